import EmberIR
import EmberOps

/// `arg_max` and `arg_min` of f32 along one axis, giving i64 indices: the first best on ties (the
/// last with `select_last_index`), NaN above every number.
struct ArgReduceKernel: CPUKernel {
    let node: KernelNode
    let axis: Int
    let keepdims: Bool
    let largest: Bool
    let last: Bool

    init(_ node: KernelNode) throws {
        guard let op = node.op as? any ArgReduction else {
            throw EmberError.op(node.op.name, "not an arg reduction", code: .unsupported)
        }
        guard node.inputTypes.first??.dtype == .f32 else {
            throw EmberError.op(
                node.op.name, "input has dtype \(node.inputTypes.first??.dtype.description ?? "none"), expected f32",
                code: .unsupported)
        }
        self.node = node
        (axis, keepdims, largest, last) = (op.axis, op.keepdims, type(of: op).largest, op.selectLastIndex)
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let rank = x.shape.count
        let a = try Axes.normalize(axis, rank: rank, op: node.op.name)
        var shape = x.shape
        if rank > 0 { if keepdims { shape[a] = 1 } else { shape.remove(at: a) } }
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        try y.expect(shape: shape, dtype: .i64, node)
        let size = rank > 0 ? x.shape[a] : 1
        let outer = rank > 0 ? x.shape[..<a].reduce(1, *) : 1
        let inner = rank > 0 ? x.shape[(a + 1)...].reduce(1, *) : 1
        guard outer * inner > 0 else { return }
        guard size > 0 else { throw node.error(.invalidArgument, "expected a non-empty axis \(axis), received size 0") }
        let (values, indices) = (x.floats, y.pointer(as: Int64.self))
        // NaN sorts above every number.
        let less: (Float, Float) -> Bool = { p, q in p < q || (q.isNaN && !p.isNaN) }
        for o in 0..<outer {
            for i in 0..<inner {
                let base = o * size * inner + i
                var best = 0
                for j in 1..<size {
                    let (candidate, current) = (values[base + j * inner], values[base + best * inner])
                    let better = largest ? less(current, candidate) : less(candidate, current)
                    let tie = !less(current, candidate) && !less(candidate, current)
                    if better || (last && tie) { best = j }
                }
                indices[o * inner + i] = Int64(best)
            }
        }
    }
}
