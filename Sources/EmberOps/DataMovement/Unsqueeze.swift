import EmberIR

/// Inserts dims of size 1 at the positions `axes` (input 1) names in the output.
///
///     unsqueeze(f32[batch,4], axes: [1, -1]) -> f32[batch,1,4,1]
public struct Unsqueeze: Operator, AttributeFree {
    public static let name = "unsqueeze"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { [.dataMovement, .view] }

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "axes")
        guard let shape = x.shape else { return [TensorType(x.dtype, nil)] }
        guard let axes = inputs.constantInts(1) else {
            return [TensorType(x.dtype, inputs.vectorLength(1).map { [Dim](repeating: .unknown, count: shape.count + $0) })]
        }
        return [TensorType(x.dtype, try Self.insert(axes, into: shape, one: .known(1)))]
    }

    /// `shape` with `one` at each of `axes`, which index the output.
    static func insert<T>(_ axes: [Int], into shape: [T], one: T) throws -> [T] {
        let rank = shape.count + axes.count
        let normalized = try Axes.normalize(axes, rank: rank, op: name)
        var result: [T] = []
        var source = shape.makeIterator()
        for i in 0..<rank {
            if normalized.contains(i) {
                result.append(one)
            } else if let d = source.next() {
                result.append(d)
            }
        }
        return result
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let axes = try inputs.required(1, Self.name).indexValues(Self.name, input: "axes")
        return [x.reshaped(try Self.insert(axes, into: x.shape, one: 1))]
    }
}
