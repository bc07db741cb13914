import EmberIR

/// The input's shape as an i64 vector, optionally only dims `start..<end` (negative values count
/// from the end; both are clamped to the rank).
///
///     shape(f32[batch,3]) -> i64[2]
public struct Shape: Operator {
    public static let name = "shape"
    public static let inputArity: ClosedRange<Int> = 1...1

    public var start: Int
    public var end: Int?

    public init(start: Int = 0, end: Int? = nil) {
        self.start = start
        self.end = end
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["start", "end"])
        start = try attributes.int("start", default: 0)
        end = try attributes.int("end")
    }
    public var attributes: Attributes {
        var list: [(String, Attribute)] = [("start", .int(start))]
        if let end { list.append(("end", .int(end))) }
        return Attributes(op: Self.name, list)
    }

    /// The dims taken from a tensor of `rank`.
    public func range(rank: Int) -> Swift.Range<Int> {
        let (s, e) = (Axes.clamp(start, count: rank), Axes.clamp(end ?? rank, count: rank))
        return s..<max(s, e)
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        guard let rank = x.rank else { return [TensorType(.i64, [.unknown])] }
        return [TensorType(.i64, [.known(range(rank: rank).count)])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let dims = x.shape[range(rank: x.rank)].map(Int64.init)
        return [Tensor(shape: [dims.count], int64s: dims)]
    }
}

/// The input's element count, as an i64 scalar.
public struct Size: Operator, AttributeFree {
    public static let name = "size"
    public static let inputArity: ClosedRange<Int> = 1...1

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        _ = try inputs.type(0)
        return [TensorType(.i64, [])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        return [Tensor(shape: [], int64s: [Int64(x.count)])]
    }
}
