import EmberIR
import EmberOps

extension ONNXOps {
    static let reduction: [String: ONNXConverter] = [
        // ReduceSum took `axes` as an input from opset 13, the other reductions from opset 18.
        "ReduceSum": reduce(ReduceSum.self, axesInputSince: 13),
        "ReduceMean": reduce(ReduceMean.self, axesInputSince: 18),
        "ReduceMax": reduce(ReduceMax.self, axesInputSince: 18),
        "ReduceMin": reduce(ReduceMin.self, axesInputSince: 18),
        "ReduceProd": reduce(ReduceProd.self, axesInputSince: 18),
        "ReduceL1": reduce(ReduceL1.self, axesInputSince: 18),
        "ReduceL2": reduce(ReduceL2.self, axesInputSince: 18),
        "ReduceLogSumExp": reduce(ReduceLogSumExp.self, axesInputSince: 18),
        "ReduceLogSum": reduce(ReduceLogSum.self, axesInputSince: 18),
        "ReduceSumSquare": reduce(ReduceSumSquare.self, axesInputSince: 18),
        "ArgMax": .direct(ArgMax.self), "ArgMin": .direct(ArgMin.self),
        "Softmax": .direct(Softmax.self), "LogSoftmax": .direct(LogSoftmax.self), "Hardmax": .direct(Hardmax.self),
        "CumSum": .direct(CumSum.self),
        "TopK": .direct(TopK.self),
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
