import EmberIR
import EmberOps

extension ONNXOps {
    /// MatMul-13, Gemm-13 and Einsum-12 are the current forms.
    static let linearAlgebra: [String: ONNXConverter] = [
        "MatMul": .direct(MatMul.self), "Gemm": .direct(Gemm.self), "Einsum": .direct(Einsum.self),
    ]
}
