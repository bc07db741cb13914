import EmberIR

/// The slices along `axis` (or the elements of the flattened input, without `axis`) where
/// `condition` is true. A condition shorter than the axis drops the slices past its end.
///
///     compress(f32[3,2], [false, true, true], axis: 0) -> f32[2,2]
public struct Compress: Operator {
    public static let name = "compress"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { [.dataMovement, .dataDependentShape] }

    public var axis: Int?

    public init(axis: Int? = nil) { self.axis = axis }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        axis = try attributes.int("axis")
    }
    public var attributes: Attributes { Attributes(op: Self.name, axis.map { [("axis", .int($0))] } ?? []) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (x, condition) = (try inputs.type(0), try inputs.type(1))
        try condition.expectDType([.bool], Self.name, input: "condition")
        try condition.expectRank(1, Self.name, input: "condition")
        guard let axis else { return [TensorType(x.dtype, [.unknown])] }
        guard var dims = x.shape else { return [TensorType(x.dtype, nil)] }
        let a = try Axes.normalize(axis, rank: dims.count, op: Self.name)
        guard a < dims.count else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(dims.count)")
        }
        dims[a] = inputs.constant(1).map { .known($0.bools().filter { $0 }.count) } ?? .unknown
        return [TensorType(x.dtype, dims)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        var x = try inputs.required(0, Self.name)
        let condition = try inputs.required(1, Self.name)
        try condition.expectDType([.bool], Self.name, input: "condition")
        guard condition.rank == 1 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] condition has rank \(condition.rank), expected 1")
        }
        var a = 0
        if let axis {
            a = try Axes.normalize(axis, rank: x.rank, op: Self.name)
            guard a < x.rank else {
                throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(x.rank)")
            }
        } else {
            x = x.reshaped([x.count])
        }
        let flags = condition.bools()
        let size = x.shape[a]
        let kept = flags.indices.filter { flags[$0] }
        if let last = kept.last, last >= size {
            throw EmberError(
                .invalidArgument, "[\(Self.name)] condition selects index \(last) of an axis of size \(size)")
        }
        let strides = Tensor.strides(of: x.shape)
        var tables = (0..<x.rank).map { IndexMaps.strided(start: 0, step: 1, count: x.shape[$0], stride: strides[$0]) }
        tables[a] = kept.map { $0 * strides[a] }
        var shape = x.shape
        shape[a] = kept.count
        return [x.gathering(IndexMaps.sums(tables), shape: shape)]
    }
}
