import EmberIR

/// Picks slices of `data` along `axis` at `indices` (negative indices count from the end);
/// the indices' shape replaces that axis.
///
///     gather(f32[30522,768], i64[batch,128], axis: 0) -> f32[batch,128,768]
public struct Gather: Operator {
    public static let name = "gather"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .dataMovement }

    public var axis: Int

    public init(axis: Int = 0) { self.axis = axis }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        axis = try attributes.int("axis", default: 0)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis))]) }

    func normalizedAxis(rank: Int) throws -> Int {
        let a = try Axes.normalize(axis, rank: rank, op: Self.name)
        guard a < rank else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(rank)")
        }
        return a
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (data, indices) = (try inputs.type(0), try inputs.type(1))
        try indices.expectDType([.i64, .i32], Self.name, input: "indices")
        guard let shape = data.shape, let indexShape = indices.shape else { return [TensorType(data.dtype, nil)] }
        let a = try normalizedAxis(rank: shape.count)
        return [TensorType(data.dtype, Array(shape[..<a]) + indexShape + Array(shape[(a + 1)...]))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (data, indexTensor) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        let a = try normalizedAxis(rank: data.rank)
        let size = data.shape[a]
        let picks = try indexTensor.indexValues(Self.name, input: "indices").map {
            try DataMovementChecks.index($0, size: size, Self.name)
        }
        let outer = data.shape[..<a].reduce(1, *)
        let inner = data.shape[(a + 1)...].reduce(1, *)
        var indices: [Int] = []
        indices.reserveCapacity(outer * picks.count * inner)
        for o in 0..<outer {
            for p in picks {
                let base = (o * size + p) * inner
                indices.append(contentsOf: base..<(base + inner))
            }
        }
        let shape = Array(data.shape[..<a]) + indexTensor.shape + Array(data.shape[(a + 1)...])
        return [data.gathering(indices, shape: shape)]
    }
}
