import EmberONNX
import Testing

@Suite struct ONNXOpsTableTests {
    /// `ember ops` names the Ember op of every ONNX op type; a custom converter says it in
    /// `ONNXOps.customProducts`, so a new one left out of that list fails here.
    @Test func everyOpTypeNamesTheOpItImportsAs() {
        for opType in ONNXOps.table.keys.sorted() {
            #expect(ONNXOps.product(of: opType) != nil, "\(opType) is a custom converter missing from ONNXOps.customProducts")
        }
        #expect(ONNXOps.product(of: "CastLike")?.name == "cast")
        #expect(ONNXOps.product(of: "ReduceMean")?.name == "reduce_mean")
        #expect(ONNXOps.product(of: "NoSuchOp") == nil)
    }
}
