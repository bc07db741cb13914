import EmberIR
import EmberOps
import EmberPasses
import EmberReference
import EmberRuntime
import Foundation

/// Whole CUDA engines against the reference backend: small models with a symbolic batch,
/// compiled as `ember compile --backend cuda` does, run at two batch sizes, saved and loaded
/// again, and with ops forced onto the host.
public enum CUDAEngineCheck {
    public struct Result: Sendable {
        public var name: String
        public var relativeError: Double
        public var tolerance: Double
        public var detail: String
        public var passed: Bool { relativeError <= tolerance }
    }

    /// A small CNN: convolutions with bias, relu and a residual add, a max pool, a global average
    /// pool, a flatten and a classifier; the batch is symbolic.
    public static let convNet = """
        graph @main(%image: f32[batch,3,16,16]) {
          %w1 = constant f32[8,3,3,3] @random(1)
          %b1 = constant f32[8] @random(2)
          %w2 = constant f32[8,8,3,3] @random(3)
          %b2 = constant f32[8] @random(4)
          %fc = constant f32[10,8] @random(5)
          %fb = constant f32[10] @random(6)
          %c1 = conv(%image, %w1, %b1) {pads = [1, 1, 1, 1]} : f32[batch,8,16,16]
          %r1 = relu(%c1) : f32[batch,8,16,16]
          %p = max_pool(%r1) {kernel_shape = [2, 2], strides = [2, 2]} : f32[batch,8,8,8]
          %c2 = conv(%p, %w2, %b2) {pads = [1, 1, 1, 1]} : f32[batch,8,8,8]
          %s = add(%c2, %p) : f32[batch,8,8,8]
          %r2 = relu(%s) : f32[batch,8,8,8]
          %g = global_average_pool(%r2) : f32[batch,8,1,1]
          %f = flatten(%g) {axis = 1} : f32[batch,8]
          %logits = gemm(%f, %fc, %fb) {transB = 1} : f32[batch,10]
          return %logits
        }
        """

    /// A transformer-style block: products, a mask from integer ids, softmax, layer norm, gelu.
    public static let block = """
        graph @main(%x: f32[batch,32,64], %ids: i64[batch,64]) {
          %w1 = constant f32[64,256] @random(11)
          %w2 = constant f32[256,64] @random(12)
          %g = constant f32[64] @random(13)
          %b = constant f32[64] @random(14)
          %one = constant i64[] [1]
          %axis = constant i64[1] [1]
          %zero = constant f32[] [0.0]
          %big = constant f32[] [-3.0e38]
          %h = matmul(%x, %w1) : f32[batch,32,256]
          %a = gelu(%h) : f32[batch,32,256]
          %o = matmul(%a, %w2) : f32[batch,32,64]
          %keep = greater_or_equal(%ids, %one) : bool[batch,64]
          %m = where(%keep, %zero, %big) : f32[batch,64]
          %mu = unsqueeze(%m, %axis) : f32[batch,1,64]
          %sc = add(%o, %x) : f32[batch,32,64]
          %n = layer_norm(%sc, %g, %b) {axis = -1, epsilon = 1e-5} : f32[batch,32,64]
          %z = add(%n, %mu) : f32[batch,32,64]
          %p = softmax(%z) {axis = -1} : f32[batch,32,64]
          return %n, %p
        }
        """

    /// The graph in `text` with its `@random(seed)` constants filled with uniform values in
    /// [-0.5, 0.5].
    static func graph(_ text: String) throws -> Graph {
        var resolved = text
        while let range = resolved.range(of: #"constant f32\[([0-9,]+)\] @random\(([0-9]+)\)"#, options: .regularExpression) {
            let match = String(resolved[range])
            let dims = match.split(separator: "[")[1].split(separator: "]")[0].split(separator: ",").compactMap { Int($0) }
            let seed = UInt64(match.split(separator: "(")[1].dropLast()) ?? 0
            let values = Tensor.random(.f32, dims, in: -0.5...0.5, seed: seed).doubles()
            resolved.replaceSubrange(
                range, with: "constant f32[\(dims.map(String.init).joined(separator: ","))] [\(values.map { "\($0)" }.joined(separator: ", "))]")
        }
        return try Graph(parsing: resolved, registry: .standard)
    }

    static func inputs(_ graph: Graph, batch: Int, seed: UInt64) -> [String: Tensor] {
        var feeds: [String: Tensor] = [:]
        for (k, id) in graph.inputs.enumerated() {
            let t = graph.type(of: id)
            let shape = (t.shape ?? []).map { $0.value ?? batch }
            let range: ClosedRange<Double> = t.dtype.isFloatingPoint ? -1...1 : 0...2
            feeds[graph.name(of: id)] = Tensor.random(t.dtype, shape, in: range, seed: seed + UInt64(k))
        }
        return feeds
    }

    static func worstError(_ engine: Engine, _ graph: Graph, batches: [Int]) throws -> Double {
        var worst = 0.0
        for batch in batches {
            let feeds = inputs(graph, batch: batch, seed: UInt64(batch) * 10)
            let expected = try ReferenceBackend().run(graph, inputs: feeds)
            let actual = try engine.run(feeds)
            guard actual.map(\.name) == expected.map(\.name) else {
                throw EmberError(.internalError, "outputs \(actual.map(\.name)), expected \(expected.map(\.name))")
            }
            for (a, e) in zip(actual, expected) {
                guard a.tensor.shape == e.tensor.shape, a.tensor.dtype == e.tensor.dtype else {
                    throw EmberError(.internalError, "output \(e.name) is \(a.tensor.type), expected \(e.tensor.type)")
                }
                worst = max(worst, a.tensor.relativeError(to: e.tensor) ?? .infinity)
            }
        }
        return worst
    }

    /// Every engine check; a check that throws is a failure with the error as its detail.
    public static func run() -> [Result] {
        var results: [Result] = []
        func check(_ name: String, tolerance: Double, _ body: () throws -> (Double, String)) {
            do {
                let (error, detail) = try body()
                results.append(Result(name: name, relativeError: error, tolerance: tolerance, detail: detail))
            } catch {
                results.append(Result(name: name, relativeError: .infinity, tolerance: tolerance, detail: "\(error)"))
            }
        }
        for (model, text) in [("cnn", convNet), ("block", block)] {
            for precision in [Precision.fp32, .fp16, .bf16] {
                let tolerance = precision == .fp32 ? 1e-4 : precision == .fp16 ? 1e-2 : 4e-2
                check("\(model) \(precision.rawValue), batch 1 and 3", tolerance: tolerance) {
                    let graph = try graph(text)
                    let engine = try Engine.compile(graph, backend: .cuda, precision: precision)
                    let error = try worstError(engine, graph, batches: [1, 3])
                    let host = engine.cudaProgram?.builtShapes.count ?? 0
                    return (error, "\(host) builds")
                }
            }
            // The loaded engine times its cuDNN and cuBLASLt candidates again and may pick others,
            // so its outputs agree within fp16's tolerance, not bit for bit.
            check("\(model) fp16 saved and loaded", tolerance: 1e-2) {
                let graph = try graph(text)
                var fixed = graph
                try Pipeline.specialize(&fixed, inputs: [graph.name(of: graph.inputs[0]): [2] + (graph.type(of: graph.inputs[0]).shape ?? []).dropFirst().map { $0.value ?? 2 }])
                let engine = try Engine.compile(fixed, backend: .cuda, precision: .fp16)
                let data = try EngineFile.serialize(engine)
                let loaded = try EngineFile.deserialize(data)
                let feeds = inputs(fixed, batch: 2, seed: 5)
                let a = try engine.run(feeds), b = try loaded.run(feeds)
                let error = zip(a, b).map { $1.tensor.relativeError(to: $0.tensor) ?? .infinity }.max() ?? .infinity
                let stored = engine.cudaProgram?.compiledImages.count ?? 0
                let compiledAtLoad = (loaded.cudaProgram?.compiledImages.count ?? 0) - stored
                // Every kernel must come from the file: a compile at load fails the check.
                return (compiledAtLoad == 0 ? error : .infinity, "\(stored) kernels stored, \(compiledAtLoad) compiled at load")
            }
        }
        check("cnn fp32 with conv and gemm on the host", tolerance: 1e-4) {
            let graph = try graph(convNet)
            let engine = try Engine.compile(graph, backend: .cuda, fallbackOps: ["conv", "fused_epilogue", "gemm"], precision: .fp32)
            let error = try worstError(engine, graph, batches: [2])
            let build = try engine.cudaProgram?.prepare([[2, 3, 16, 16]])
            return (error, "\(build?.hostNodes.count ?? 0) nodes on the host")
        }
        return results
    }
}
