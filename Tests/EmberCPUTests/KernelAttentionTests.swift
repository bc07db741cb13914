import Dispatch
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@testable import EmberCPU

@Suite struct KernelAttentionTests {
    func attention(_ attributes: [(String, Attribute)] = []) throws -> any Operator {
        try makeOp("attention", attributes)
    }

    @Test func fourDimensionalMatchesReference() throws {
        // Odd sizes: 37 queries (a partial block), 29 keys (a partial vector), head size 20.
        let q = randomFloats([2, 3, 37, 20], seed: 1), k = randomFloats([2, 3, 29, 20], seed: 2)
        let v = randomFloats([2, 3, 29, 24], seed: 3)
        try checkKernel(try attention(), [q, k, v])
        try checkKernel(try attention([("scale", .float(0.3))]), [q, k, v])
        try checkKernel(try attention([("softcap", .float(2))]), [q, k, v])
    }

    @Test func masksMatchReference() throws {
        let q = randomFloats([2, 4, 33, 16], seed: 1), k = randomFloats([2, 4, 33, 16], seed: 2)
        let v = randomFloats([2, 4, 33, 16], seed: 3)
        try checkKernel(try attention([("is_causal", .int(1))]), [q, k, v])
        // An additive mask per batch and key, as BERT's padding mask; with -infinity entries.
        var padding = randomFloats([2, 1, 1, 33], seed: 4).floats()
        for j in 20..<33 { padding[33 + j] = -.infinity }
        try checkKernel(try attention(), [q, k, v, Tensor(shape: [2, 1, 1, 33], floats: padding)])
        // A full additive mask, a 2-D one broadcast over batch and heads, and a shorter boolean one.
        try checkKernel(try attention(), [q, k, v, randomFloats([2, 4, 33, 33], seed: 5)])
        try checkKernel(try attention([("is_causal", .int(1))]), [q, k, v, randomFloats([33, 33], seed: 6)])
        let keep = Tensor.random(.bool, [2, 1, 33, 30], seed: 7)
        try checkKernel(try attention(), [q, k, v, keep])
        // Rows with every key masked give zeros.
        try checkKernel(try attention(), [q, k, v, Tensor(shape: [33], bools: Array(repeating: false, count: 33))])
        try checkKernel(try attention([("left_window_size", .int(3)), ("right_window_size", .int(2))]), [q, k, v])
    }

    @Test func groupedQueryAndThreeDimensionalForms() throws {
        let q = randomFloats([2, 6, 17, 16], seed: 1), k = randomFloats([2, 2, 21, 16], seed: 2)
        let v = randomFloats([2, 2, 21, 16], seed: 3)
        try checkKernel(try attention(), [q, k, v])
        let heads: [(String, Attribute)] = [("q_num_heads", .int(6)), ("kv_num_heads", .int(2))]
        try checkKernel(
            try attention(heads + [("is_causal", .int(1))]),
            [randomFloats([2, 17, 96], seed: 4), randomFloats([2, 21, 32], seed: 5), randomFloats([2, 21, 40], seed: 6)])
    }

    @Test func bertShapesWithSymbolicBatch() throws {
        let op = try attention()
        let dims: [Dim] = [.symbol("batch"), 12, .symbol("seq"), 64]
        let types: [TensorType?] = [TensorType(.f32, dims), TensorType(.f32, dims), TensorType(.f32, dims), TensorType(.f32, [.symbol("batch"), 1, 1, .symbol("seq")])]
        let kernel = try EmberKernels().makeKernel(try kernelNode(op, [nil, nil, nil, nil], types: types))
        for (batch, seq) in [(1, 128), (2, 45)] {
            let inputs = (0..<3).map { randomFloats([batch, 12, seq, 64], seed: UInt64($0 + seq)) } + [randomFloats([batch, 1, 1, seq], seed: 9)]
            let expected = try op.evaluate(inputs, outputCount: 1)
            let actual = try runKernel(kernel, inputs, expected: expected)
            #expect(try #require(actual[0].relativeError(to: expected[0])) <= 1e-4)
        }
    }

    @Test func refusesWhatItDoesNotRun() throws {
        let q = randomFloats([1, 2, 4, 8])
        let withPresent = try kernelNode(try attention(), [q, q, q], outputs: 3)
        #expect(EmberKernels().support(withPresent) != .supported)
        let f64 = Tensor.random(.f64, [1, 2, 4, 8])
        #expect(EmberKernels().support(try kernelNode(try attention(), [f64, f64, f64])) != .supported)
    }

    @Test func eightThreadsMatchSequentialRuns() throws {
        let op = try attention([("is_causal", .int(1))])
        let node = try kernelNode(op, [randomFloats([1, 2, 40, 16]), randomFloats([1, 2, 40, 16]), randomFloats([1, 2, 40, 16])])
        let kernel = try EmberKernels().makeKernel(node)
        let inputs = (0..<8).map { i in (0..<3).map { randomFloats([1, 2, 40, 16], seed: UInt64(10 * i + $0)) } }
        let expected = try inputs.map { try op.evaluate($0, outputCount: 1) }
        let sequential = try inputs.indices.map { try runKernel(kernel, inputs[$0], expected: expected[$0]) }
        let results = ThreadResults<[Tensor]>(count: 8)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for _ in 0..<10 { results.set(i, try? runKernel(kernel, inputs[i], expected: expected[i])) }
        }
        for i in 0..<8 {
            #expect(results.get(i) == sequential[i])
            #expect(try #require(sequential[i][0].relativeError(to: expected[i][0])) <= 1e-4)
        }
    }
}
