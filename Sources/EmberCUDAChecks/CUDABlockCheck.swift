import EmberCUDA
import EmberIR
import EmberOps
import EmberReference
import EmberTestSupport

/// A transformer MLP block as a graph, run whole on the device and on the reference backend:
/// `softmax(layer_norm(x + linear(gelu_tanh(linear(x, W1) + b1), W2, b2)))`, with the first
/// product's bias and GELU in its cuBLASLt epilogue and the residual add a generated kernel.
public enum CUDABlockCheck {
    public static func graph(_ dtype: DType, tokens: Int = 128, width: Int = 512, hidden: Int = 2048) throws -> Graph {
        var b = GraphBuilder(name: "mlp_block")
        let x = b.input("x", TensorType(dtype, known: [tokens, width]))
        let w1 = b.constant(Tensor.random(dtype, [width, hidden], in: -0.05...0.05, seed: 11), name: "w1")
        let b1 = b.constant(Tensor.random(dtype, [hidden], in: -0.1...0.1, seed: 12), name: "b1")
        let w2 = b.constant(Tensor.random(dtype, [hidden, width], in: -0.05...0.05, seed: 13), name: "w2")
        let b2 = b.constant(Tensor.random(dtype, [width], in: -0.1...0.1, seed: 14), name: "b2")
        let gamma = b.constant(Tensor.random(dtype, [width], in: 0.5...1.5, seed: 15), name: "gamma")
        let beta = b.constant(Tensor.random(dtype, [width], in: -0.5...0.5, seed: 16), name: "beta")
        let up = try FusedEpilogue(FusedBody(
            [.init(op: Linear(), operands: [.input(0), .input(1)]), .init(op: Add(), operands: [.step(0), .input(2)]),
             .init(op: Gelu(approximate: .tanh), operands: [.step(1)])], op: FusedEpilogue.name))
        let h = try b.add(up, [x, w1, b1], names: ["h"], nodeName: "up")[0]
        let o = try b.add(Linear(), [h, w2, b2], names: ["o"], nodeName: "down")[0]
        let r = try b.add(Add(), [o, x], names: ["r"], nodeName: "residual")[0]
        let n = try b.add(LayerNorm(axis: -1), [r, gamma, beta], names: ["n"], nodeName: "norm")[0]
        let y = try b.add(Softmax(axis: -1), [n], names: ["y"], nodeName: "softmax")[0]
        b.output(y)
        return try b.finish()
    }

    /// Errors against the reference of a direct run and of a CUDA graph replay (on new inputs),
    /// and the median device milliseconds of each.
    public struct Result: Sendable {
        public var error: Double
        public var graphError: Double
        public var milliseconds: Double?
        public var graphMilliseconds: Double?
    }

    public static func run(_ runner: CUDACheckRunner, _ dtype: DType, iterations: Int) throws -> Result {
        let graph = try graph(dtype)
        let reference = ReferenceBackend()
        let x = Tensor.random(dtype, [128, 512], in: -1...1, seed: 17)
        let executor = try CUDAGraphExecutor(graph, kernels: runner.kernels)
        try executor.upload(["x": x])
        try executor.tune(on: runner.stream)
        let actual = try executor.run(["x": x], stream: runner.stream)[0].tensor
        let error = actual.relativeError(to: try reference.run(graph, inputs: ["x": x])[0].tensor) ?? .infinity

        let replay = try executor.capture(on: runner.stream)
        let x2 = Tensor.random(dtype, [128, 512], in: -1...1, seed: 18)
        try executor.upload(["x": x2])
        try replay.launch(on: runner.stream)
        try runner.stream.synchronize()
        let replayed = try executor.outputs()[0].tensor
        let graphError = replayed.relativeError(to: try reference.run(graph, inputs: ["x": x2])[0].tensor) ?? .infinity

        guard iterations > 0 else { return Result(error: error, graphError: graphError) }
        let ms = try runner.stream.medianMilliseconds(warmup: 3, iterations: iterations) {
            try executor.enqueue(on: runner.stream)
        }
        let graphMs = try runner.stream.medianMilliseconds(warmup: 3, iterations: iterations) {
            try replay.launch(on: runner.stream)
        }
        return Result(error: error, graphError: graphError, milliseconds: ms, graphMilliseconds: graphMs)
    }
}

