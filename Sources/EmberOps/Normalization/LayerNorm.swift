import EmberIR
import Foundation

/// Layer normalization over the dims from `axis` on, ONNX `LayerNormalization`:
/// `y = (x - mean) / sqrt(var + epsilon) * scale + bias`. Inputs: x, scale, optional bias.
/// Optional outputs 1 and 2 are the mean and `1 / sqrt(var + epsilon)`, of dtype `stash_type`,
/// shaped like x with the normalized dims set to 1.
public struct LayerNorm: Operator {
    public static let name = "layer_norm"
    public static let inputArity: ClosedRange<Int> = 2...3
    public static let outputArity: ClosedRange<Int> = 1...3
    public var axis: Int
    public var epsilon: Double
    /// The dtype of the statistics outputs (ONNX computes them in this type; Ember in `Double`).
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
        if inputs.has(2) { try inputs.type(2).expectDType(DType.floatingPoint, Self.name, input: "bias") }
        var statsShape: [Dim]? = nil
        if let shape = x.shape {
            let a = try Axes.normalize(axis, rank: shape.count, op: Self.name)
            statsShape = Array(shape[..<a]) + Array(repeating: .known(1), count: shape.count - a)
        }
        let stats = TensorType(stashType, statsShape)
        return Array([x, stats, stats].prefix(max(outputCount, 1)))
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        let a = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        let normShape = Array(x.shape[a...])
        let size = normShape.product
        var kernel = RowNorm(size: size, epsilon: epsilon, rms: false)
        kernel.scale = try NormParameters.overDims(try inputs.required(1, Self.name), shape: normShape, Self.name, "scale")
        if let b = inputs.optional(2) {
            kernel.bias = try NormParameters.overDims(b, shape: normShape, Self.name, "bias")
        }
        guard outputCount > 1 else { return [try kernel.apply(x)] }
        let stats = RowNorm.Stats(rows: Array(x.shape[..<a]).product)
        kernel.stats = stats
        let y = try kernel.apply(x)
        let statsShape = Array(x.shape[..<a]) + Array(repeating: 1, count: x.rank - a)
        return [
            y, Tensor(stashType, shape: statsShape, doubles: stats.mean),
            Tensor(stashType, shape: statsShape, doubles: stats.invStdDev),
        ].prefix(outputCount).map { $0 }
    }
}
