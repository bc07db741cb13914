import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct ElementwiseTests {
    @Test func addBroadcastsSymbolicBatch() throws {
        let a = TensorType(.f32, ["batch", 1, 4])
        let b = TensorType(.f32, [3, 1])
        let out = try Add().inferTypes(OpInputs("add", types: [a, b]), outputCount: 1)
        #expect(out == [TensorType(.f32, ["batch", 3, 4])])
    }

    @Test func addEvaluatesWithBroadcasting() throws {
        let a = Tensor(shape: [2, 1], floats: [1, 2])
        let b = Tensor(shape: [3], floats: [10, 20, 30])
        let y = try evaluateOp(Add(), [a, b])[0]
        #expect(y == Tensor(shape: [2, 3], floats: [11, 21, 31, 12, 22, 32]))
    }
}
