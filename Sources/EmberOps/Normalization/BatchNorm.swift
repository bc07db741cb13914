import EmberIR

/// Inference batch normalization, ONNX `BatchNormalization` with `training_mode = 0`:
/// `y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]` over `x: [N, C, ...]`.
/// Inputs: x, scale, bias, mean, var.
public struct BatchNorm: Operator {
    public static let name = "batch_norm"
    public static let inputArity: ClosedRange<Int> = 5...5
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
        try x.expectRank(atLeast: 2, Self.name)
        let channels = x.shape?[1]
        for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")] {
            try NormParameters.checkPerChannel(try inputs.type(i), channels: channels, Self.name, what)
        }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        try x.expectRank(atLeast: 2, Self.name)
        let c = x.shape[1]
        let p = try [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")].map { i, what in
            try NormParameters.perChannel(try inputs.required(i, Self.name), count: c, Self.name, what)
        }
        var kernel = Kernel(channels: c, spatial: Array(x.shape[2...]).product)
        kernel.mean = p[2]
        kernel.bias = p[1]
        kernel.factor = (0..<c).map { p[0][$0] / (p[3][$0] + epsilon).squareRoot() }
        return [try kernel.apply(x)]
    }

    private struct Kernel: FloatMap {
        var channels: Int
        var spatial: Int
        var mean: [Double] = []
        var factor: [Double] = []
        var bias: [Double] = []

        func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) { kernel(x, y) }
        func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) { kernel(x, y) }

        func kernel<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>) {
            guard channels > 0, spatial > 0 else { return }
            var start = 0
            while start < x.count {
                for c in 0..<channels {
                    let (m, f, b) = (mean[c], factor[c], bias[c])
                    for j in start..<(start + spatial) { y[j] = T((Double(x[j]) - m) * f + b) }
                    start += spatial
                }
            }
        }
    }
}
