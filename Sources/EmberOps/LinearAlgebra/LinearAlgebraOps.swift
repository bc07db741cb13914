import EmberIR

/// Matrix products and einsum.
public enum LinearAlgebraOps {
    public static let all: [any Operator.Type] = [MatMul.self, Gemm.self, Einsum.self, Linear.self]
}
