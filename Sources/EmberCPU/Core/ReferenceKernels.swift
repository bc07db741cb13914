import EmberIR
import EmberOps

/// Every op, through its reference evaluation: the CPU backend's fallback for what no faster
/// provider runs. Inputs are copied into `Tensor`s, the op evaluates, and the results are copied
/// into the planned buffers, so it is as slow as the reference backend but always there.
public struct ReferenceKernels: CPUKernelProvider {
    public init() {}

    public var name: String { "reference" }

    public func support(_ node: KernelNode) -> KernelSupport { .supported }

    public func makeKernel(_ node: KernelNode) throws -> any CPUKernel {
        ReferenceKernel(op: node.op, location: node.location)
    }
}

/// One node run by its op's `evaluate`.
struct ReferenceKernel: CPUKernel {
    let op: any Operator
    let location: String

    func implementation(for shapes: [[Int]?]) -> KernelImplementation { KernelImplementation("reference", isReference: true) }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let arguments = try inputs.map { try $0?.tensor() }
        let results = try op.evaluate(arguments, outputCount: outputs.count)
        for (index, (result, output)) in zip(results, outputs).enumerated() {
            guard result.shape == output.shape, result.dtype == output.dtype else {
                throw EmberError(
                    .internalError,
                    "\(location): output \(index) is \(result.type), but \(TensorType(output.dtype, known: output.shape)) was planned")
            }
            output.copy(from: result)
        }
    }
}
