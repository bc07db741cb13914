import EmberIR
import EmberOps

/// `expand` of any dtype: a strided copy that reads broadcast dims with stride 0.
struct ExpandKernel: CPUKernel {
    let node: KernelNode

    init(_ node: KernelNode) throws {
        guard node.op is Expand else { throw EmberError.op(node.op.name, "not an expand", code: .unsupported) }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let target = try inputs.required(1, node.op.name).indexValues(node, "shape")
        guard target.allSatisfy({ $0 >= 0 }) else { throw node.error(.invalidArgument, "shape \(target) has a negative dim") }
        let shape = try Broadcast.shape(x.shape, target, op: node.op.name)
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        try y.expect(shape: shape, dtype: x.dtype, node)
        let padded = Array(repeating: 1, count: shape.count - x.shape.count) + x.shape
        let rowMajor = Tensor.strides(of: padded)
        let strides = padded.indices.map { padded[$0] == 1 ? 0 : rowMajor[$0] }
        StridedCopy(shape: shape, strides: strides, offset: 0, elementSize: x.dtype.byteSize).run(from: x.data, to: y.data)
    }
}
