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
    /// A tensor of uniformly random values in `range` (integers rounded), for tests and benchmarks.
    public static func random(
        _ dtype: DType, _ shape: [Int], in range: ClosedRange<Double> = -1...1, seed: UInt64 = 1
    ) -> Tensor {
        var rng = SeededRandom(seed: seed)
        let n = Tensor.elementCount(shape) ?? 0
        let values = (0..<n).map { _ in Double.random(in: range, using: &rng) }
        if dtype == .bool { return Tensor(shape: shape, bools: values.map { $0 > 0 }) }
        return Tensor(dtype, shape: shape, doubles: dtype.isFloatingPoint ? values : values.map { $0.rounded() })
    }
}
