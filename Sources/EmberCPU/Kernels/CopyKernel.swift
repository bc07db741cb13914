import EmberIR
import EmberOps

/// Ops that keep every element in order and only change the shape (reshape, flatten, squeeze,
/// unsqueeze, identity): a copy of the bytes, or nothing where the planner gave the output input
/// 0's buffer.
struct CopyKernel: CPUKernel {
    let node: KernelNode

    static func handles(_ op: any Operator) -> Bool { op.traits.contains(.view) }

    init(_ node: KernelNode) throws {
        guard node.outputTypes.count == 1, let input = node.inputTypes.first ?? nil else {
            throw EmberError.op(node.op.name, "expected one input and one output", code: .unsupported)
        }
        guard input.dtype == node.outputTypes[0].dtype else {
            throw EmberError.op(node.op.name, "input and output dtypes differ", code: .unsupported)
        }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let input = try inputs.required(0, node.op.name)
        guard let output = outputs.first, output.byteCount == input.byteCount, output.dtype == input.dtype else {
            throw node.error(.shapeMismatch, "input \(input.dtype)\(input.shape) does not fit output \(outputs.first.map { "\($0.dtype)\($0.shape)" } ?? "none")")
        }
        if output.data != input.data { output.data.copyMemory(from: input.data, byteCount: input.byteCount) }
    }
}
