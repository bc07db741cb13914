import EmberCUDA
import EmberIR
import EmberOps
import EmberReference
import EmberTestSupport

/// ResNet-50's first bottleneck block as the optimizer leaves it (batch norm folded into biases,
/// the residual add and relu fused into the last convolution), run whole by the graph executor:
/// `relu(conv1x1(relu(conv3x3(relu(conv1x1(x, W1) + b1), W2) + b2), W3) + b3 + x)`, x
/// [N, 256, 56, 56]. The executor copies x to channels-last once and the output back.
public enum CUDAConvBlockCheck {
    public static func graph(_ dtype: DType, batch: Int) throws -> Graph {
        var b = GraphBuilder(name: "bottleneck")
        let x = b.input("x", TensorType(dtype, known: [batch, 256, 56, 56]))
        func weights(_ k: Int, _ c: Int, _ r: Int, seed: UInt64) -> (ValueID, ValueID) {
            let scale = 1.7 / Double(c * r * r).squareRoot()
            let w = b.constant(Tensor.random(dtype, [k, c, r, r], in: -scale...scale, seed: seed), name: "w\(seed)")
            let bias = b.constant(Tensor.random(dtype, [k], in: -0.3...0.3, seed: seed + 100), name: "b\(seed)")
            return (w, bias)
        }
        func conv(_ r: Int) throws -> Conv {
            try Conv(attributes: Attributes(op: Conv.name, [("kernel_shape", .ints([r, r])), ("pads", .ints(Array(repeating: r / 2, count: 4)))]))
        }
        func convRelu(_ r: Int) throws -> FusedEpilogue {
            try FusedEpilogue(FusedBody(
                [.init(op: try conv(r), operands: [.input(0), .input(1), .input(2)]), .init(op: Relu(), operands: [.step(0)])],
                op: FusedEpilogue.name))
        }
        let (w1, b1) = weights(64, 256, 1, seed: 21)
        let (w2, b2) = weights(64, 64, 3, seed: 22)
        let (w3, b3) = weights(256, 64, 1, seed: 23)
        let h1 = try b.add(try convRelu(1), [x, w1, b1], names: ["h1"], nodeName: "conv1")[0]
        let h2 = try b.add(try convRelu(3), [h1, w2, b2], names: ["h2"], nodeName: "conv2")[0]
        let last = try FusedEpilogue(FusedBody(
            [.init(op: try conv(1), operands: [.input(0), .input(1), .input(2)]), .init(op: Add(), operands: [.step(0), .input(3)]),
             .init(op: Relu(), operands: [.step(1)])], op: FusedEpilogue.name))
        let y = try b.add(last, [h2, w3, b3, x], names: ["y"], nodeName: "conv3")[0]
        b.output(y)
        return try b.finish()
    }

    public struct Result: Sendable {
        /// nil when the batch was too large to check on the host.
        public var error: Double?
        public var graphError: Double?
        public var milliseconds: Double?
        public var graphMilliseconds: Double?
        /// The executor's steps.
        public var plan: [String]
    }

    /// Runs the block at `batch` directly and as a CUDA graph replay (on new inputs); checks both
    /// against the reference when `check`.
    public static func run(_ runner: CUDACheckRunner, _ dtype: DType, batch: Int, check: Bool, iterations: Int) throws -> Result {
        let graph = try graph(dtype, batch: batch)
        let reference = ReferenceBackend()
        let shape = [batch, 256, 56, 56]
        let executor = try CUDAGraphExecutor(graph, kernels: runner.kernels)
        let x = Tensor.random(dtype, shape, in: -1...1, seed: 31)
        let actual = try executor.run(["x": x], stream: runner.stream)[0].tensor
        var result = Result(plan: executor.plan)
        if check {
            result.error = actual.relativeError(to: try reference.run(graph, inputs: ["x": x])[0].tensor) ?? .infinity
        }
        let replay = try executor.capture(on: runner.stream)
        let x2 = Tensor.random(dtype, shape, in: -1...1, seed: 32)
        try executor.upload(["x": x2])
        try replay.launch(on: runner.stream)
        try runner.stream.synchronize()
        if check {
            let replayed = try executor.outputs()[0].tensor
            result.graphError = replayed.relativeError(to: try reference.run(graph, inputs: ["x": x2])[0].tensor) ?? .infinity
        }
        guard iterations > 0 else { return result }
        result.milliseconds = try runner.stream.medianMilliseconds(warmup: 3, iterations: iterations) {
            try executor.enqueue(on: runner.stream)
        }
        result.graphMilliseconds = try runner.stream.medianMilliseconds(warmup: 3, iterations: iterations) {
            try replay.launch(on: runner.stream)
        }
        return result
    }
}
