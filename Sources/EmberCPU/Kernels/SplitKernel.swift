import EmberIR
import EmberOps

/// `split` of any dtype: each output is a slice of the input along the axis, copied with
/// `StridedCopy`. The piece sizes are the outputs' own, checked against the input and the optional
/// `split` input.
struct SplitKernel: CPUKernel {
    let node: KernelNode
    let axis: Int

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Split else { throw EmberError.op(node.op.name, "not a split", code: .unsupported) }
        self.node = node
        axis = op.axis
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let rank = x.shape.count
        let a = try Axes.normalize(axis, rank: rank, op: node.op.name)
        let sizes = outputs.map { $0.shape.count == rank ? $0.shape[a] : -1 }
        if let split = try (inputs.count > 1 ? inputs[1] : nil)?.indexValues(node, "split"), split != sizes {
            throw node.error(.shapeMismatch, "split sizes \(split) do not match the outputs' \(sizes)")
        }
        guard sizes.reduce(0, +) == x.shape[a] else {
            throw node.error(.shapeMismatch, "outputs of sizes \(sizes) along axis \(a) do not cover input \(x.shape)")
        }
        let strides = Tensor.strides(of: x.shape)
        var start = 0
        for (output, size) in zip(outputs, sizes) {
            var shape = x.shape
            shape[a] = size
            try output.expect(shape: shape, dtype: x.dtype, node)
            StridedCopy(shape: shape, strides: strides, offset: start * strides[a], elementSize: x.dtype.byteSize)
                .run(from: x.data, to: output.data)
            start += size
        }
    }
}
