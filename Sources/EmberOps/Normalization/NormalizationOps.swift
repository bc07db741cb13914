import EmberIR

/// Batch, layer, group, instance and RMS normalization.
public enum NormalizationOps {
    public static let all: [any Operator.Type] = []
}
