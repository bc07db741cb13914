import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct AttentionTests {
    func op(_ entries: [(String, Attribute)] = []) throws -> Attention {
        try Attention(attributes: Attributes(op: "attention", entries))
    }

    @Test func infersFourAndThreeDimensionalForms() throws {
        let q = TensorType(.f32, ["b", 8, "s", 64]), kv = TensorType(.f32, ["b", 2, "s", 64])
        let past = TensorType(.f32, ["b", 2, 5, 64])
        let four = try op().inferTypes(OpInputs("attention", types: [q, kv, kv, nil, past, past]), outputCount: 3)
        #expect(four[0] == TensorType(.f32, ["b", 8, "s", 64]))
        #expect(four[1] == TensorType(.f32, ["b", 2, .unknown, 64]))
        let three = try op([("q_num_heads", .int(12)), ("kv_num_heads", .int(12))])
        let x = TensorType(.f32, ["b", "s", 768])
        #expect(try three.inferTypes(OpInputs("attention", types: [x, x, x]), outputCount: 1) == [TensorType(.f32, ["b", "s", 768])])
        #expect(throws: EmberError.self) { try op().inferTypes(OpInputs("attention", types: [x, x, x]), outputCount: 1) }
    }

    @Test func evaluatesUniformAttentionAndCausalMask() throws {
        // Equal scores: every query averages the values it may see.
        let q = Tensor(shape: [1, 1, 3, 2], floats: Array(repeating: 0, count: 6))
        let v = Tensor(shape: [1, 1, 3, 1], floats: [3, 6, 9])
        let k = Tensor(shape: [1, 1, 3, 2], floats: [1, 2, 3, 4, 5, 6])
        let y = try evaluateOp(op(), [q, k, v])[0]
        #expect(y == Tensor(shape: [1, 1, 3, 1], floats: [6, 6, 6]))
        let causal = try evaluateOp(op([("is_causal", .int(1))]), [q, k, v])[0]
        #expect(causal == Tensor(shape: [1, 1, 3, 1], floats: [3, 4.5, 6]))
    }

    @Test func fullyMaskedRowsGiveZeros() throws {
        let q = Tensor.random(.f32, [1, 1, 2, 4], seed: 1)
        let k = Tensor.random(.f32, [1, 1, 3, 4], seed: 2)
        let v = Tensor.random(.f32, [1, 1, 3, 2], seed: 3)
        let mask = Tensor(shape: [2, 3], bools: [false, false, false, true, false, false])
        let y = try evaluateOp(op(), [q, k, v, mask])[0]
        let values = y.floats()
        #expect(values[0] == 0 && values[1] == 0)
        #expect(values[2] == v.floats()[0] && values[3] == v.floats()[1])
    }

    @Test func rejectsBadInputs() throws {
        let q = Tensor.random(.f32, [1, 3, 2, 4])
        let k = Tensor.random(.f32, [1, 2, 2, 4])
        #expect(throws: EmberError.self) { try evaluateOp(op(), [q, k, k]) }
        #expect(throws: EmberError.self) { try evaluateOp(op(), [q, q, Tensor.random(.f32, [1, 3, 5, 4])]) }
        #expect(throws: EmberError.self) { try evaluateOp(op(), [q, q, q, Tensor.random(.f32, [2, 7])]) }
        #expect(throws: EmberError.self) { try evaluateOp(op(), [q, q, q, nil, Tensor.random(.f32, [1, 3, 1, 4])]) }
        #expect(throws: EmberError.self) { try op([("qk_matmul_output_mode", .int(4))]) }
        #expect(throws: EmberError.self) { try op([("softmax_precision", .int(7))]) }
        #expect(throws: EmberError.self) { try op([("dropout", .float(0.1))]) }
    }
}
