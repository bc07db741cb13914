import EmberIR

/// Convolutions and pooling.
public enum ConvolutionOps {
    public static let all: [any Operator.Type] = []
}
