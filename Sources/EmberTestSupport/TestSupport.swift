import EmberIR
import EmberOps
import EmberReference

/// A small deterministic random generator (SplitMix64), so test inputs are the same on every run.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Tensor {
    /// A tensor of uniformly random values in `range` (integers rounded), for tests.
    public static func random(
        _ dtype: DType, _ shape: [Int], in range: ClosedRange<Double> = -1...1, seed: UInt64 = 1
    ) -> Tensor {
        var rng = SeededRandom(seed: seed)
        let n = Tensor.elementCount(shape) ?? 0
        let values = (0..<n).map { _ in Double.random(in: range, using: &rng) }
        if dtype == .bool { return Tensor(shape: shape, bools: values.map { $0 > 0 }) }
        return Tensor(dtype, shape: shape, doubles: dtype.isFloatingPoint ? values : values.map { $0.rounded() })
    }

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
