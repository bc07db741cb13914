import EmberIR

/// Removes dims of size 1: those listed in the optional `axes` input, or all of them when `axes` is
/// absent or empty (as ONNX Runtime does).
///
///     squeeze(f32[batch,1,4], axes: [1]) -> f32[batch,4]
public struct Squeeze: Operator, AttributeFree {
    public static let name = "squeeze"
    public static let inputArity: ClosedRange<Int> = 1...2
    public static var traits: OpTraits { [.dataMovement, .view] }

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        if inputs.has(1) { try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "axes") }
        guard let shape = x.shape else { return [TensorType(x.dtype, nil)] }
        let axes = inputs.constantInts(1)
        guard inputs.has(1), axes?.isEmpty != true, inputs.vectorLength(1) != 0 else {
            // A symbolic dim might be 1 at run time, so the rank is only known when every dim is.
            guard shape.allSatisfy({ $0.value != nil }) else { return [TensorType(x.dtype, nil)] }
            return [TensorType(x.dtype, shape.filter { $0 != .known(1) })]
        }
        guard let axes else {
            let n = inputs.vectorLength(1)
            return [TensorType(x.dtype, n.map { [Dim](repeating: .unknown, count: max(shape.count - $0, 0)) })]
        }
        let removed = try removedAxes(axes, shape)
        return [TensorType(x.dtype, shape.enumerated().filter { !removed.contains($0.offset) }.map(\.element))]
    }

    func removedAxes(_ axes: [Int], _ shape: [Dim]) throws -> [Int] {
        let normalized = try Axes.normalize(axes, rank: shape.count, op: Self.name)
        for a in normalized {
            guard a < shape.count else {
                throw EmberError(.invalidArgument, "[\(Self.name)] axis \(a) is out of range for rank \(shape.count)")
            }
            if let v = shape[a].value, v != 1 {
                throw EmberError(.shapeMismatch, "[\(Self.name)] axis \(a) has size \(v), expected 1")
            }
        }
        return normalized
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        guard let axesTensor = inputs.optional(1), axesTensor.count > 0 else {
            return [x.reshaped(x.shape.filter { $0 != 1 })]
        }
        let removed = try removedAxes(try axesTensor.indexValues(Self.name, input: "axes"), x.shape.map { .known($0) })
        return [x.reshaped(x.shape.enumerated().filter { !removed.contains($0.offset) }.map(\.element))]
    }
}
