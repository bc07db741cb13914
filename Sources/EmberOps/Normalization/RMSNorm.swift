import EmberIR

/// RMS normalization over the dims from `axis` on, ONNX `RMSNormalization` (opset 23):
/// `y = x / sqrt(mean(x^2) + epsilon) * scale`.
public struct RMSNorm: Operator {
    public static let name = "rms_norm"
    public static let inputArity: ClosedRange<Int> = 2...2
    public var axis: Int
    public var epsilon: Double
    /// The precision ONNX computes in; Ember computes in `Double` whatever it is.
    public var stashType: DType

    public init(axis: Int = -1, epsilon: Double = 1e-5, stashType: DType = .f32) {
        self.axis = axis
        self.epsilon = epsilon
        self.stashType = stashType
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis", "epsilon", "stash_type"])
        axis = try attributes.int("axis", default: -1)
        epsilon = try attributes.float("epsilon", default: 1e-5)
        stashType = try attributes.dtype("stash_type") ?? .f32
        guard stashType.isFloatingPoint else {
            throw EmberError.op(Self.name, "expected a floating point stash_type, received \(stashType)")
        }
    }

    public var attributes: Attributes {
        Attributes(
            op: Self.name, [("axis", .int(axis)), ("epsilon", .float(epsilon)), ("stash_type", .dtype(stashType))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        try inputs.type(1).expectDType(DType.floatingPoint, Self.name, input: "scale")
        if let rank = x.rank { _ = try Axes.normalize(axis, rank: rank, op: Self.name) }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        let a = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        let normShape = Array(x.shape[a...])
        var kernel = RowNorm(size: normShape.product, epsilon: epsilon, rms: true)
        kernel.scale = try NormParameters.overDims(try inputs.required(1, Self.name), shape: normShape, Self.name, "scale")
        return [try kernel.apply(x)]
    }
}
