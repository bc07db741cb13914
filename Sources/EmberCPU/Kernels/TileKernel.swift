import EmberIR
import EmberOps

/// `tile` of any dtype: the output seen as `[r0, n0, r1, n1, ...]` (repeats, then the input's dim)
/// is a strided copy of the input with stride 0 along every repeat dim.
struct TileKernel: CPUKernel {
    let node: KernelNode

    init(_ node: KernelNode) throws {
        guard node.op is Tile else { throw EmberError.op(node.op.name, "not a tile", code: .unsupported) }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let repeats = try inputs.required(1, node.op.name).indexValues(node, "repeats")
        guard repeats.count == x.shape.count, repeats.allSatisfy({ $0 >= 0 }), let y = outputs.first else {
            throw node.error(.invalidArgument, "repeats \(repeats) do not fit input \(x.shape)")
        }
        try y.expect(shape: zip(x.shape, repeats).map { $0 * $1 }, dtype: x.dtype, node)
        let strides = Tensor.strides(of: x.shape)
        let shape = x.shape.indices.flatMap { [repeats[$0], x.shape[$0]] }
        let walk = x.shape.indices.flatMap { [0, strides[$0]] }
        StridedCopy(shape: shape, strides: walk, offset: 0, elementSize: x.dtype.byteSize).run(from: x.data, to: y.data)
    }
}
