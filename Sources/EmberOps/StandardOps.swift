import EmberIR

extension OperatorRegistry {
    /// Every op Ember defines.
    public static let standard = OperatorRegistry(
        ElementwiseOps.all + ReductionOps.all + NormalizationOps.all + LinearAlgebraOps.all
            + ConvolutionOps.all + AttentionOps.all + DataMovementOps.all + FusedOps.all)
}
