import EmberIR
import EmberOps
import Foundation

/// `softmax` and `log_softmax` over any axis of an f32 tensor. Along the innermost axis each row
/// is one vector pass for the maximum, one for the exponentials and their sum, one to scale; along
/// another axis the same passes run over whole rows of the dims after it, so memory is read in order.
struct SoftmaxKernel: CPUKernel {
    let node: KernelNode
    let axis: Int
    let logarithm: Bool

    init(_ node: KernelNode) throws {
        switch node.op {
        case let op as Softmax: (axis, logarithm) = (op.axis, false)
        case let op as LogSoftmax: (axis, logarithm) = (op.axis, true)
        default: throw EmberError.op(node.op.name, "not a softmax", code: .unsupported)
        }
        guard node.inputTypes.first??.dtype == .f32, node.outputTypes.count == 1 else {
            throw EmberError.op(
                node.op.name, "input has dtype \(node.inputTypes.first??.dtype.description ?? "?"), expected f32",
                code: .unsupported)
        }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        guard let y = outputs.first, x.dtype == .f32, y.shape == x.shape else {
            throw node.error(.shapeMismatch, "expected an f32 output of shape \(x.shape)")
        }
        let a = try Axes.normalize(axis, rank: x.shape.count, op: node.op.name)
        let outer = x.shape[..<a].reduce(1, *), size = x.shape[a], inner = x.shape[(a + 1)...].reduce(1, *)
        guard x.count > 0 else { return }
        let chunks = chunkCount(outer, itemCost: size * inner * 8)
        let scratch = context.scratch(bytes: chunks * 2 * inner * MemoryLayout<Float>.stride)
        let shared = Shared((x.floats, y.floats, scratch.assumingMemoryBound(to: Float.self)))
        let logarithm = self.logarithm
        Parallel.forEach(chunks) { range in
            let (x, y, scratch) = shared.value
            for chunk in range {
                for o in (outer * chunk / chunks)..<(outer * (chunk + 1) / chunks) {
                    let base = o * size * inner
                    if inner == 1 {
                        Self.row(x + base, y + base, size, logarithm: logarithm)
                    } else {
                        Self.columns(x + base, y + base, size, inner, scratch + chunk * 2 * inner, logarithm: logarithm)
                    }
                }
            }
        }
    }

    /// One row along the innermost axis.
    static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, logarithm: Bool) {
        var m = RowMath.max(x, n)
        // A row of -infinity (every position masked) gives NaN, as in the reference.
        if !m.isFinite { m = 0 }
        let sum = RowMath.expAndSum(x, y, n, shift: m)
        if logarithm {
            RowMath.scale(x, y, n, 1, -(m + Float(Foundation.log(Double(sum)))))
        } else {
            RowMath.scale(y, y, n, 1 / sum, 0)
        }
    }

    /// A `[n, inner]` block normalized along its first dim, every column at once.
    static func columns(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ inner: Int,
        _ scratch: UnsafeMutablePointer<Float>, logarithm: Bool
    ) {
        let (m, sum) = (scratch, scratch + inner)
        m.update(from: x, count: inner)
        for j in 1..<max(n, 1) {
            VectorLoops.map(m, x + j * inner, m, inner) { VectorMath.maximum($0, $1) }
        }
        VectorLoops.map(m, m, inner) { $0.replacing(with: 0, where: ($0 .== .infinity) .| ($0 .== -.infinity)) }
        sum.update(repeating: 0, count: inner)
        for j in 0..<n {
            let row = y + j * inner
            VectorLoops.map(x + j * inner, m, row, inner) { VectorMath.exp($0 - $1) }
            VectorLoops.map(sum, row, sum, inner) { $0 + $1 }
        }
        if logarithm {
            VectorLoops.map(m, sum, sum, inner) { $0 + VectorMath.log($1) }
            for j in 0..<n { VectorLoops.map(x + j * inner, sum, y + j * inner, inner) { $0 - $1 } }
        } else {
            VectorLoops.map(sum, sum, inner) { 1 / $0 }
            for j in 0..<n { VectorLoops.map(y + j * inner, sum, y + j * inner, inner) { $0 * $1 } }
        }
    }
}
