import EmberIR

/// Instance normalization, ONNX `InstanceNormalization`: each channel of each item of
/// `x: [N, C, ...]` normalized over its spatial dims, then `* scale[c] + bias[c]`.
public struct InstanceNorm: Operator {
    public static let name = "instance_norm"
    public static let inputArity: ClosedRange<Int> = 3...3
    public var epsilon: Double

    public init(epsilon: Double = 1e-5) { self.epsilon = epsilon }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["epsilon"])
        epsilon = try attributes.float("epsilon", default: 1e-5)
    }

    public var attributes: Attributes { Attributes(op: Self.name, [("epsilon", .float(epsilon))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        try x.expectRank(atLeast: 3, Self.name)
        try NormParameters.checkPerChannel(try inputs.type(1), channels: x.shape?[1], Self.name, "scale")
        try NormParameters.checkPerChannel(try inputs.type(2), channels: x.shape?[1], Self.name, "bias")
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        try x.expectRank(atLeast: 3, Self.name)
        let c = x.shape[1]
        var kernel = ChannelGroupNorm(groups: c, channels: c, spatial: Array(x.shape[2...]).product, epsilon: epsilon)
        kernel.scale = try NormParameters.perChannel(try inputs.required(1, Self.name), count: c, Self.name, "scale")
        kernel.bias = try NormParameters.perChannel(try inputs.required(2, Self.name), count: c, Self.name, "bias")
        return [try kernel.apply(x)]
    }
}
