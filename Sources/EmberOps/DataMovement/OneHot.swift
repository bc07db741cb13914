import EmberIR

/// A one-hot encoding: a new axis of size `depth` at `axis`, holding `values[1]` where the position
/// equals the index and `values[0]` elsewhere. Negative indices count from `depth`; indices out of
/// range give a row of `values[0]`.
///
///     one_hot(i64[batch], depth: 10, values: f32[2]) -> f32[batch,10]
public struct OneHot: Operator {
    public static let name = "one_hot"
    public static let inputArity: ClosedRange<Int> = 3...3

    public var axis: Int

    public init(axis: Int = -1) { self.axis = axis }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        axis = try attributes.int("axis", default: -1)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (indices, depth, values) = (try inputs.type(0), try inputs.type(1), try inputs.type(2))
        try indices.expectDType(DType.numeric, Self.name, input: "indices")
        try depth.expectDType(DType.numeric, Self.name, input: "depth")
        if let s = values.shape, s.count != 1 || (s[0].value.map { $0 != 2 } ?? false) {
            throw EmberError(.shapeMismatch, "[\(Self.name)] values has shape \(s), expected [2]")
        }
        guard let shape = indices.shape else { return [TensorType(values.dtype, nil)] }
        let a = try Axes.normalize(axis, rank: shape.count + 1, op: Self.name)
        var depthDim = Dim.unknown
        if let d = inputs.constant(1) { depthDim = .known(try Self.depth(d)) }
        var out = shape
        out.insert(depthDim, at: a)
        return [TensorType(values.dtype, out)]
    }

    static func depth(_ t: Tensor) throws -> Int {
        guard t.count == 1 else { throw EmberError(.shapeMismatch, "[\(name)] depth has \(t.count) elements, expected 1") }
        let d = t.doubles()[0]
        guard d >= 1, d < 1e9 else { throw EmberError(.invalidArgument, "[\(name)] depth is \(d), expected a positive size") }
        return Int(d)
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (indexTensor, depthTensor, values) = (
            try inputs.required(0, Self.name), try inputs.required(1, Self.name), try inputs.required(2, Self.name)
        )
        guard values.count == 2 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] values has \(values.count) elements, expected 2")
        }
        let depth = try Self.depth(depthTensor)
        let a = try Axes.normalize(axis, rank: indexTensor.rank + 1, op: Self.name)
        let indices = indexTensor.int64s()
        let outer = indexTensor.shape[..<a].reduce(1, *)
        let inner = indexTensor.shape[a...].reduce(1, *)
        var picks = [Int](repeating: 0, count: outer * depth * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var v = indices[o * inner + i]
                if v < 0 { v += Int64(depth) }
                if v >= 0, v < depth { picks[(o * depth + Int(v)) * inner + i] = 1 }
            }
        }
        var shape = indexTensor.shape
        shape.insert(depth, at: a)
        return [values.gathering(picks, shape: shape)]
    }
}
