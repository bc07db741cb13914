import EmberIR

extension Pipeline {
    /// Folding batch norms and scalar arithmetic into the weights of the op before them.
    static let folding: [any Pass] = [
        FoldBatchNorm(),
        FoldScalarIntoWeights(),
    ]

    /// Decomposed patterns recognized as single ops. Norms come before activations (a GELU's
    /// `x / sqrt(2)` is no norm), softmax before attention, which matches on softmax.
    static let recognition: [any Pass] = [
        RecognizeLayerNorm(),
        RecognizeRMSNorm(),
        RecognizeGelu(),
        RecognizeSilu(),
        RecognizeHardSwish(),
        RecognizeSoftmax(),
        RecognizeAttention(),
        RecognizeLinear(),
    ]
}
