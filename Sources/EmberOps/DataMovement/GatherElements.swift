import EmberIR

/// `out[i][j][k] = data[i][indices[i][j][k]][k]` for `axis` 1, and likewise for any axis: the output
/// has the indices' shape.
public struct GatherElements: Operator {
    public static let name = "gather_elements"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .dataMovement }

    public var axis: Int

    public init(axis: Int = 0) { self.axis = axis }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        axis = try attributes.int("axis", default: 0)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (data, indices) = (try inputs.type(0), try inputs.type(1))
        try indices.expectDType([.i64, .i32], Self.name, input: "indices")
        if let r = data.rank, let q = indices.rank {
            guard r == q else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] indices have rank \(q), expected the data's rank \(r)")
            }
            let a = try Axes.normalize(axis, rank: r, op: Self.name)
            guard a < r else {
                throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(r)")
            }
        }
        return [TensorType(data.dtype, indices.shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (data, indexTensor) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        let r = data.rank
        guard indexTensor.rank == r, r > 0 else {
            throw EmberError(
                .shapeMismatch, "[\(Self.name)] indices have rank \(indexTensor.rank), expected the data's rank \(r)")
        }
        let a = try Axes.normalize(axis, rank: r, op: Self.name)
        guard a < r else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(r)")
        }
        for k in 0..<r where k != a && indexTensor.shape[k] > data.shape[k] {
            throw EmberError(
                .shapeMismatch, "[\(Self.name)] indices shape \(indexTensor.shape) exceeds data shape \(data.shape) on axis \(k)")
        }
        let strides = Tensor.strides(of: data.shape)
        let tables = (0..<r).map { k in
            k == a
                ? [Int](repeating: 0, count: indexTensor.shape[k])
                : IndexMaps.strided(start: 0, step: 1, count: indexTensor.shape[k], stride: strides[k])
        }
        var indices = IndexMaps.sums(tables)
        let picks = try indexTensor.indexValues(Self.name, input: "indices")
        let size = data.shape[a]
        for i in 0..<indices.count {
            indices[i] += try DataMovementChecks.index(picks[i], size: size, Self.name) * strides[a]
        }
        return [data.gathering(indices, shape: indexTensor.shape)]
    }
}
