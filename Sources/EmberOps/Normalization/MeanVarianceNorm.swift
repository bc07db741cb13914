import EmberIR

/// `(x - mean) / (sqrt(var) + 1e-9)` with mean and variance over `axes`, ONNX
/// `MeanVarianceNormalization` (the 1e-9 is the ONNX definition's).
public struct MeanVarianceNorm: Operator {
    public static let name = "mean_variance_norm"
    public static let inputArity: ClosedRange<Int> = 1...1
    public var axes: [Int]

    public init(axes: [Int] = [0, 2, 3]) { self.axes = axes }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axes"])
        axes = try attributes.ints("axes") ?? [0, 2, 3]
    }

    public var attributes: Attributes { Attributes(op: Self.name, [("axes", .ints(axes))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        if let rank = x.rank { _ = try Axes.normalize(axes, rank: rank, op: Self.name) }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        let plan = ReductionPlan(shape: x.shape, axes: try Axes.normalize(axes, rank: x.rank, op: Self.name))
        return [try Kernel(plan: plan).apply(x)]
    }

    private struct Kernel: FloatMap {
        var plan: ReductionPlan

        func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) { kernel(x, y) }
        func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) { kernel(x, y) }

        func kernel<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>) {
            let n = Double(plan.groupSize)
            var mean = [Double](repeating: 0, count: plan.outputCount)
            var deviation = [Double](repeating: 0, count: plan.outputCount)
            mean.withUnsafeMutableBufferPointer { mean in
                plan.forEachRun { start, out, count, step in
                    for j in 0..<count { mean[out + j * step] += Double(x[start + j]) }
                }
                for i in 0..<mean.count { mean[i] /= n }
                deviation.withUnsafeMutableBufferPointer { dev in
                    plan.forEachRun { start, out, count, step in
                        for j in 0..<count {
                            let d = Double(x[start + j]) - mean[out + j * step]
                            dev[out + j * step] += d * d
                        }
                    }
                    for i in 0..<dev.count { dev[i] = (dev[i] / n).squareRoot() + 1e-9 }
                    plan.forEachRun { start, out, count, step in
                        for j in 0..<count {
                            let o = out + j * step
                            y[start + j] = T((Double(x[start + j]) - mean[o]) / dev[o])
                        }
                    }
                }
            }
        }
    }
}
