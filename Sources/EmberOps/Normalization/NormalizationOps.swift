import EmberIR

/// Batch, layer, group, instance and RMS normalization.
public enum NormalizationOps {
    public static let all: [any Operator.Type] = [
        BatchNorm.self, LayerNorm.self, GroupNorm.self, InstanceNorm.self, RMSNorm.self,
        LpNorm.self, MeanVarianceNorm.self,
    ]
}
