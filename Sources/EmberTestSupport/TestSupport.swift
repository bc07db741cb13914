import EmberIR
import EmberOps
import EmberReference

extension Tensor {
    /// The largest absolute difference to `other`, relative to the largest magnitude in `other`;
    /// nil when shapes or dtypes differ. NaNs must match NaNs.
    public func relativeError(to other: Tensor) -> Double? {
        guard shape == other.shape, dtype == other.dtype else { return nil }
        let (a, b) = (doubles(), other.doubles())
        let scale = max(b.map { $0.isFinite ? abs($0) : 0 }.max() ?? 0, 1e-30)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            if x.isNaN || y.isNaN {
                if x.isNaN != y.isNaN { return .infinity }
                continue
            }
            if x.isInfinite || y.isInfinite {
                if x != y { return .infinity }
                continue
            }
            worst = max(worst, abs(x - y) / scale)
        }
        return worst
    }
}

/// Runs a single op on the reference backend: builds a one-node graph from the inputs' types.
public func evaluateOp(_ op: any Operator, _ inputs: [Tensor?], outputs: Int = 1) throws -> [Tensor] {
    var b = GraphBuilder()
    var ids: [ValueID?] = []
    var feeds: [String: Tensor] = [:]
    for (i, t) in inputs.enumerated() {
        guard let t else {
            ids.append(nil)
            continue
        }
        ids.append(b.input("in\(i)", t.type))
        feeds["in\(i)"] = t
    }
    for id in try b.add(op, ids, outputs: outputs) { b.output(id) }
    let graph = try b.finish()
    return try ReferenceBackend().run(graph, inputs: feeds).map(\.tensor)
}
