import EmberIR

/// Group normalization, ONNX `GroupNormalization` (opset 21 form): the channels of
/// `x: [N, C, ...]` split into `num_groups` groups, each normalized over its channels and
/// spatial dims, then `* scale[c] + bias[c]` per channel. (Opset 18's per-group scale and bias
/// are expanded to per-channel ones on import.)
public struct GroupNorm: Operator {
    public static let name = "group_norm"
    public static let inputArity: ClosedRange<Int> = 3...3
    public var epsilon: Double
    public var numGroups: Int
    /// The precision ONNX computes in; Ember computes in `Double` whatever it is.
    public var stashType: DType

    public init(numGroups: Int, epsilon: Double = 1e-5, stashType: DType = .f32) {
        self.numGroups = numGroups
        self.epsilon = epsilon
        self.stashType = stashType
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["epsilon", "num_groups", "stash_type"])
        epsilon = try attributes.float("epsilon", default: 1e-5)
        guard let groups = try attributes.int("num_groups") else {
            throw EmberError.op(Self.name, "expected attribute 'num_groups'")
        }
        guard groups > 0 else { throw EmberError.op(Self.name, "expected num_groups > 0, received \(groups)") }
        numGroups = groups
        stashType = try attributes.dtype("stash_type") ?? .f32
        guard stashType.isFloatingPoint else {
            throw EmberError.op(Self.name, "expected a floating point stash_type, received \(stashType)")
        }
    }

    public var attributes: Attributes {
        Attributes(
            op: Self.name,
            [("epsilon", .float(epsilon)), ("num_groups", .int(numGroups)), ("stash_type", .dtype(stashType))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        try x.expectRank(atLeast: 2, Self.name)
        let channels = x.shape?[1]
        if let c = channels?.value, c % numGroups != 0 {
            throw EmberError.op(Self.name, "expected channels divisible by num_groups \(numGroups), received \(c)")
        }
        try NormParameters.checkPerChannel(try inputs.type(1), channels: channels, Self.name, "scale")
        try NormParameters.checkPerChannel(try inputs.type(2), channels: channels, Self.name, "bias")
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        try x.expectRank(atLeast: 2, Self.name)
        let c = x.shape[1]
        guard c % numGroups == 0 else {
            throw EmberError.op(Self.name, "expected channels divisible by num_groups \(numGroups), received \(c)")
        }
        var kernel = ChannelGroupNorm(
            groups: numGroups, channels: c, spatial: Array(x.shape[2...]).product, epsilon: epsilon)
        kernel.scale = try NormParameters.perChannel(try inputs.required(1, Self.name), count: c, Self.name, "scale")
        kernel.bias = try NormParameters.perChannel(try inputs.required(2, Self.name), count: c, Self.name, "bias")
        return [try kernel.apply(x)]
    }
}
