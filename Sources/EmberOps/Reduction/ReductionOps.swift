import EmberIR

/// Reductions, softmax, cumulative sums and top-k.
public enum ReductionOps {
    public static let all: [any Operator.Type] = []
}
