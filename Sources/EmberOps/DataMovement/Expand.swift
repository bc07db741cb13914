import EmberIR

/// Broadcasts the input against `shape` (input 1), both ways: a dim of 1 in `shape` keeps the
/// input's dim, so the output can be larger than `shape` says.
///
///     expand(f32[batch,1,4], [1, 3, 1]) -> f32[batch,3,4]
public struct Expand: Operator, AttributeFree {
    public static let name = "expand"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .dataMovement }

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "shape")
        if let target = inputs.constantInts(1) {
            guard target.allSatisfy({ $0 >= 0 }) else {
                throw EmberError(.invalidArgument, "[\(Self.name)] shape \(target) has a negative dim")
            }
            return [TensorType(x.dtype, try Broadcast.dims(x.shape, target.map { .known($0) }, op: Self.name))]
        }
        guard let shape = x.shape, let n = inputs.vectorLength(1) else { return [TensorType(x.dtype, nil)] }
        // A known dim other than 1 survives any broadcast; everything else depends on the shape's values.
        let rank = max(shape.count, n)
        let padded = [Dim](repeating: .known(1), count: rank - shape.count) + shape
        return [TensorType(x.dtype, padded.map { d in d.value.map { $0 != 1 } == true ? d : .unknown })]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let target = try inputs.required(1, Self.name).indexValues(Self.name, input: "shape")
        guard target.allSatisfy({ $0 >= 0 }) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] shape \(target) has a negative dim")
        }
        let shape = try Broadcast.shape(x.shape, target, op: Self.name)
        guard Tensor.elementCount(shape) != nil else {
            throw EmberError(.invalidArgument, "[\(Self.name)] output shape \(shape) is too large")
        }
        if shape == x.shape { return [x] }
        return [x.gathering(Broadcast.indices(from: x.shape, to: shape), shape: shape)]
    }
}
