import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// The `linear` op that recognize-linear produces: `x[..., K] @ W[K, N] + b[N]`.
@Suite struct RecognitionLinearOpTests {
    @Test func typesKeepLeadingSymbolicDims() throws {
        let types = try Linear().inferTypes(
            OpInputs("linear", types: [
                TensorType(.f32, ["batch", "seq", 3]), TensorType(.f32, known: [3, 5]), TensorType(.f32, known: [5]),
            ]), outputCount: 1)
        #expect(types == [TensorType(.f32, ["batch", "seq", 5])])
    }

    @Test func mismatchedShapesAreRefused() {
        #expect(throws: EmberError.self) {
            try Linear().inferTypes(
                OpInputs("linear", types: [TensorType(.f32, ["batch", 4]), TensorType(.f32, known: [3, 5])]), outputCount: 1)
        }
        #expect(throws: EmberError.self) {
            try Linear().inferTypes(
                OpInputs("linear", types: [
                    TensorType(.f32, ["batch", 3]), TensorType(.f32, known: [3, 5]), TensorType(.f32, known: [4]),
                ]), outputCount: 1)
        }
        #expect(throws: EmberError.self) {
            try Linear().evaluate(
                [Tensor.random(.f32, [2, 3], seed: 1), Tensor.random(.f32, [3, 5], seed: 2), Tensor.random(.f32, [4], seed: 3)],
                outputCount: 1)
        }
    }

    @Test(arguments: [[4, 3], [2, 4, 3], [3]])
    func evaluatesAsMatmulPlusBias(_ shape: [Int]) throws {
        let x = Tensor.random(.f32, shape, seed: 1)
        let w = Tensor.random(.f32, [3, 5], seed: 2)
        let b = Tensor.random(.f32, [5], seed: 3)
        let expected = try Add().evaluate(try MatMul().evaluate([x, w], outputCount: 1) + [b], outputCount: 1)[0]
        let actual = try Linear().evaluate([x, w, b], outputCount: 1)[0]
        #expect(actual.shape == expected.shape)
        #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-6)
        let unbiased = try Linear().evaluate([x, w], outputCount: 1)[0]
        #expect(unbiased == (try MatMul().evaluate([x, w], outputCount: 1)[0]))
    }

    @Test func parsesAndPrints() throws {
        let text = """
            graph @main(%x: f32[batch,seq,3]) {
              %w = constant f32[3,2] [0.5, -1.0, 0.25, 1.0, 2.0, -0.5]
              %b = constant f32[2] [0.25, 0.5]
              %y = linear(%x, %w, %b) : f32[batch,seq,2]
              return %y
            }

            """
        let graph = try Graph(parsing: text, registry: .standard)
        #expect(graph.text == text)
        try graph.verify()
    }
}
