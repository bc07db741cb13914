import EmberIR

/// Scaled dot product attention.
public enum AttentionOps {
    public static let all: [any Operator.Type] = [Attention.self]
}
