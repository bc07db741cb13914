import EmberIR

/// The coordinates of the nonzero elements, as an i64 tensor of shape `[rank, count]` in row-major
/// order. A scalar counts as a vector of one element, as in ONNX Runtime.
public struct NonZero: Operator, AttributeFree {
    public static let name = "non_zero"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .dataDependentShape }

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        return [TensorType(.i64, [x.rank.map { .known(max($0, 1)) } ?? .unknown, .unknown])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let shape = x.rank == 0 ? [1] : x.shape
        let flags = x.bools()
        let hits = flags.indices.filter { flags[$0] }
        let strides = Tensor.strides(of: shape)
        var out = [Int64](repeating: 0, count: shape.count * hits.count)
        for (n, flat) in hits.enumerated() {
            for k in 0..<shape.count {
                out[k * hits.count + n] = Int64((flat / strides[k]) % shape[k])
            }
        }
        return [Tensor(shape: [shape.count, hits.count], int64s: out)]
    }
}
