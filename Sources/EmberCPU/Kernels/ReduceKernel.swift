import EmberIR
import EmberOps
import Foundation

/// The `reduce_*` ops on f32 over any axes (read at run time from the optional axes input). When
/// the reduced axes are the innermost ones each output folds one contiguous row with vector
/// accumulators; otherwise the input is first copied with the reduced axes moved innermost.
struct ReduceKernel: CPUKernel {
    let node: KernelNode
    let kind: ReduceKind
    let options: ReductionOptions

    init(_ node: KernelNode) throws {
        guard let op = node.op as? any AxesReduction else {
            throw EmberError.op(node.op.name, "not a reduction over axes", code: .unsupported)
        }
        guard node.inputTypes.first??.dtype == .f32 else {
            throw EmberError.op(
                node.op.name, "input has dtype \(node.inputTypes.first??.dtype.description ?? "none"), expected f32",
                code: .unsupported)
        }
        self.node = node
        kind = type(of: op).kind
        options = op.options
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let rank = x.shape.count
        var axes = try (inputs.count > 1 ? inputs[1] : nil).map { try $0.indexValues(node, "axes") } ?? []
        if axes.isEmpty && !options.noopWithEmptyAxes { axes = Array(0..<rank) }
        axes = try axes.map { try Axes.normalize($0, rank: rank, op: node.op.name) }
        let reduced = Set(axes)
        let kept = (0..<rank).filter { !reduced.contains($0) }
        let shape = options.keepdims ? x.shape.indices.map { reduced.contains($0) ? 1 : x.shape[$0] } : kept.map { x.shape[$0] }
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        try y.expect(shape: shape, dtype: .f32, node)
        let rows = kept.map { x.shape[$0] }.reduce(1, *)
        let group = reduced.map { x.shape[$0] }.reduce(1, *)
        guard rows > 0 else { return }

        // The reduced axes innermost: as they are when no kept axis of size > 1 follows one of them.
        var source = UnsafePointer(x.floats)
        let order = kept + reduced.sorted()
        let inOrder = order.filter { x.shape[$0] != 1 } == (0..<rank).filter { x.shape[$0] != 1 }
        if !inOrder {
            let scratch = context.scratch(bytes: x.count * MemoryLayout<Float>.stride)
            let strides = Tensor.strides(of: x.shape)
            StridedCopy(shape: order.map { x.shape[$0] }, strides: order.map { strides[$0] }, offset: 0, elementSize: 4)
                .run(from: x.data, to: scratch)
            source = UnsafePointer(scratch.assumingMemoryBound(to: Float.self))
        }
        let shared = Shared((source, y.floats))
        let kind = self.kind
        let chunks = chunkCount(rows, itemCost: group)
        Parallel.forEach(chunks) { range in
            let (x, y) = shared.value
            for chunk in range {
                for r in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
                    y[r] = Self.reduce(kind, x + r * group, group)
                }
            }
        }
    }

    /// One row folded as the reduction says.
    static func reduce(_ kind: ReduceKind, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        switch kind {
        case .sum: return RowMath.sum(x, n)
        case .mean: return RowMath.sum(x, n) / Float(n)
        case .max: return fold(x, n, -.infinity) { a, v in a.replacing(with: v, where: (v .> a) .| (v .!= v)) }
        case .min: return fold(x, n, .infinity) { a, v in a.replacing(with: v, where: (v .< a) .| (v .!= v)) }
        case .prod: return fold(x, n, 1) { $0 * $1 }
        case .l1: return fold(x, n, 0) { $0 + VectorMath.abs($1) }
        case .l2: return RowMath.squaredDeviation(x, n, from: 0).squareRoot()
        case .sumSquare: return RowMath.squaredDeviation(x, n, from: 0)
        case .logSum: return Foundation.log(RowMath.sum(x, n))
        case .logSumExp:
            let m = fold(x, n, -.infinity) { a, v in a.replacing(with: v, where: (v .> a) .| (v .!= v)) }
            if m.isNaN { return m }
            var sum: Float = 0
            let shift = m.isFinite ? m : 0
            for j in 0..<n { sum += Foundation.exp(x[j] - shift) }
            return m.isFinite ? m + Foundation.log(sum) : Foundation.log(sum)
        }
    }

    /// Lanes folded with `combine` from `initial`, then the lanes with the same step; the tail is
    /// padded with `initial`, which every fold here leaves unchanged.
    @inline(__always)
    static func fold(
        _ x: UnsafePointer<Float>, _ n: Int, _ initial: Float, _ combine: (FloatVector, FloatVector) -> FloatVector
    ) -> Float {
        var acc = FloatVector(repeating: initial)
        var i = 0
        while i + 16 <= n {
            acc = combine(acc, VectorLoops.load(x + i))
            i += 16
        }
        if i < n {
            var tail = FloatVector(repeating: initial)
            for j in 0..<(n - i) { tail[j] = x[i + j] }
            acc = combine(acc, tail)
        }
        // The lanes folded one at a time, through the same vector step.
        var result = initial
        for j in 0..<16 {
            var single = FloatVector(repeating: initial)
            single[0] = result
            var next = FloatVector(repeating: initial)
            next[0] = acc[j]
            result = combine(single, next)[0]
        }
        return result
    }
}
