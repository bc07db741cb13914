import EmberIR

/// Reductions, softmax, cumulative sums and top-k.
public enum ReductionOps {
    public static let all: [any Operator.Type] = [
        ReduceSum.self, ReduceMean.self, ReduceMax.self, ReduceMin.self, ReduceProd.self,
        ReduceL1.self, ReduceL2.self, ReduceLogSumExp.self, ReduceLogSum.self, ReduceSumSquare.self,
        ArgMax.self, ArgMin.self,
        Softmax.self, LogSoftmax.self, Hardmax.self,
        CumSum.self, TopK.self,
    ]
}
