import EmberIR

/// Reverses the first `sequence_lens[b]` elements along `time_axis` of each batch entry `b` (along
/// `batch_axis`); the rest stay in place.
public struct ReverseSequence: Operator {
    public static let name = "reverse_sequence"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .dataMovement }

    public var batchAxis: Int
    public var timeAxis: Int

    public init(batchAxis: Int = 1, timeAxis: Int = 0) {
        self.batchAxis = batchAxis
        self.timeAxis = timeAxis
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["batch_axis", "time_axis"])
        batchAxis = try attributes.int("batch_axis", default: 1)
        timeAxis = try attributes.int("time_axis", default: 0)
        guard Set([batchAxis, timeAxis]) == [0, 1] else {
            throw EmberError(
                .invalidArgument, "[\(Self.name)] batch_axis \(batchAxis) and time_axis \(timeAxis) expected 0 and 1 in some order")
        }
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("batch_axis", .int(batchAxis)), ("time_axis", .int(timeAxis))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (x, lens) = (try inputs.type(0), try inputs.type(1))
        try lens.expectDType([.i64], Self.name, input: "sequence_lens")
        try lens.expectRank(1, Self.name, input: "sequence_lens")
        if let r = x.rank, r < 2 {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(r), expected at least 2")
        }
        if let s = x.shape, let n = lens.shape?[0] { _ = try Dim.merged(s[batchAxis], n, Self.name) }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let lens = try inputs.required(1, Self.name).indexValues(Self.name, input: "sequence_lens")
        guard x.rank >= 2 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(x.rank), expected at least 2")
        }
        let (batches, steps) = (x.shape[batchAxis], x.shape[timeAxis])
        guard lens.count == batches else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] sequence_lens has \(lens.count) values, expected \(batches)")
        }
        for n in lens where n < 0 || n > steps {
            throw EmberError(.invalidArgument, "[\(Self.name)] sequence length \(n) is outside 0...\(steps)")
        }
        let strides = Tensor.strides(of: x.shape)
        let inner = x.shape[2...].reduce(1, *)
        var indices = Array(0..<x.count)
        for b in 0..<batches {
            for t in 0..<lens[b] {
                let to = b * strides[batchAxis] + t * strides[timeAxis]
                let from = b * strides[batchAxis] + (lens[b] - 1 - t) * strides[timeAxis]
                for i in 0..<inner { indices[to + i] = from + i }
            }
        }
        return [x.gathering(indices, shape: x.shape)]
    }
}
