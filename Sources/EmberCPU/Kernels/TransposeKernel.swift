import EmberIR
import EmberOps

/// `transpose` of any dtype: a strided copy that walks the input in the output's order.
struct TransposeKernel: CPUKernel {
    let node: KernelNode
    let perm: [Int]?

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Transpose else { throw EmberError.op(node.op.name, "not a transpose", code: .unsupported) }
        self.node = node
        perm = op.perm
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let rank = x.shape.count
        let p = perm ?? Array((0..<rank).reversed())
        guard p.count == rank, p.sorted() == Array(0..<rank) else {
            throw node.error(.invalidArgument, "perm \(p) is not a permutation of the \(rank) axes")
        }
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        try y.expect(shape: p.map { x.shape[$0] }, dtype: x.dtype, node)
        let strides = Tensor.strides(of: x.shape)
        StridedCopy(shape: y.shape, strides: p.map { strides[$0] }, offset: 0, elementSize: x.dtype.byteSize)
            .run(from: x.data, to: y.data)
    }
}
