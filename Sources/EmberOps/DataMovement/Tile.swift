import EmberIR

/// Repeats the input `repeats[k]` times along each axis `k`.
///
///     tile(f32[batch,3], [1, 2]) -> f32[batch,6]
public struct Tile: Operator, AttributeFree {
    public static let name = "tile"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .dataMovement }

    public init() {}

    static func check(_ repeats: [Int], rank: Int) throws {
        guard repeats.count == rank else {
            throw EmberError(.invalidArgument, "[\(name)] repeats has \(repeats.count) values, expected \(rank)")
        }
        guard repeats.allSatisfy({ $0 >= 0 }) else {
            throw EmberError(.invalidArgument, "[\(name)] repeats \(repeats) has a negative value")
        }
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "repeats")
        guard let shape = x.shape else { return [TensorType(x.dtype, nil)] }
        guard let repeats = inputs.constantInts(1) else { return [TensorType(x.dtype, shape.map { _ in .unknown })] }
        try Self.check(repeats, rank: shape.count)
        return [
            TensorType(
                x.dtype,
                try zip(shape, repeats).map { d, r in
                    r == 1 ? d : (r == 0 ? .known(0) : try d.value.map { .known(try DataMovementChecks.multiply($0, r, Self.name)) } ?? .unknown)
                })
        ]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let repeats = try inputs.required(1, Self.name).indexValues(Self.name, input: "repeats")
        try Self.check(repeats, rank: x.rank)
        let shape = try zip(x.shape, repeats).map { try DataMovementChecks.multiply($0, $1, Self.name) }
        guard Tensor.elementCount(shape) != nil else {
            throw EmberError(.invalidArgument, "[\(Self.name)] output shape \(shape) is too large")
        }
        let strides = Tensor.strides(of: x.shape)
        let tables = (0..<x.rank).map { k in
            let d = x.shape[k]
            return (0..<shape[k]).map { ($0 % d) * strides[k] }
        }
        return [x.gathering(IndexMaps.sums(tables), shape: shape)]
    }
}
