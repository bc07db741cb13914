import EmberIR
import EmberOps

extension ONNXOps {
    static let reduction: [String: ONNXConverter] = Dictionary(
        uniqueKeysWithValues: reductions.map { ($0.opType, reduce($0.op, axesInputSince: $0.axesInputSince)) }
    ).merging([
        "ArgMax": .direct(ArgMax.self), "ArgMin": .direct(ArgMin.self),
        "Softmax": .direct(Softmax.self), "LogSoftmax": .direct(LogSoftmax.self), "Hardmax": .direct(Hardmax.self),
        "CumSum": .direct(CumSum.self),
        "TopK": .direct(TopK.self),
    ]) { first, _ in first }

    /// ReduceSum took `axes` as an input from opset 13, the other reductions from opset 18.
    static let reductions: [(opType: String, op: any Operator.Type, axesInputSince: Int)] = [
        ("ReduceSum", ReduceSum.self, 13), ("ReduceMean", ReduceMean.self, 18), ("ReduceMax", ReduceMax.self, 18),
        ("ReduceMin", ReduceMin.self, 18), ("ReduceProd", ReduceProd.self, 18), ("ReduceL1", ReduceL1.self, 18),
        ("ReduceL2", ReduceL2.self, 18), ("ReduceLogSumExp", ReduceLogSumExp.self, 18),
        ("ReduceLogSum", ReduceLogSum.self, 18), ("ReduceSumSquare", ReduceSumSquare.self, 18),
    ]

    /// A reduction whose older forms take `axes` as an attribute: moved to input 1.
    private static func reduce(_ op: any Operator.Type, axesInputSince version: Int) -> ONNXConverter {
        .custom { ctx in
            if ctx.opset < version {
                if ctx.inputs.count > 1 {
                    throw EmberError(.invalidModel, "[\(ctx.opType)] opset \(ctx.opset) takes axes as an attribute, not an input")
                }
                try ctx.moveAttributeToInput("axes", index: 1)
            }
            try ctx.emitFinal(ctx.make(op), ctx.inputs)
        }
    }
}
