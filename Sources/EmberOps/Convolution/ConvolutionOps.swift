import EmberIR

/// Convolutions and pooling.
public enum ConvolutionOps {
    public static let all: [any Operator.Type] = [
        Conv.self, ConvTranspose.self,
        MaxPool.self, AveragePool.self, LpPool.self,
        GlobalAveragePool.self, GlobalMaxPool.self, GlobalLpPool.self,
    ]
}
