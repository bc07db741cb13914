import EmberIR
import EmberOps

extension CUDAKernelPlan {
    /// ONNX `gemm` on cuBLASLt: `A' B' + C` with A and B transposed by cuBLASLt's operand
    /// attributes. A C of N elements (`[N]` or `[1, N]`) is the product's fused bias; any other C
    /// is added in place by a generated kernel. alpha must be 1, and beta 1 (or 0, dropping C).
    static func gemm(_ op: Gemm, _ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        guard node.inputs.count >= 2, let a = node.inputs[0], let b = node.inputs[1], let y = node.outputs.first else {
            return .failure(EmberError(.unsupported, "expected A and B"))
        }
        guard a.dtype == b.dtype, [.f32, .f16, .bf16].contains(a.dtype) else {
            return .failure(EmberError(.unsupported, "gemm of \(a.dtype) and \(b.dtype) is not supported; expected f32, f16 or bf16"))
        }
        guard a.shape.count == 2, b.shape.count == 2 else {
            return .failure(EmberError(.unsupported, "gemm takes 2-D A and B, given \(a) and \(b)"))
        }
        guard op.alpha == 1 else {
            return .failure(EmberError(.unsupported, "alpha \(op.alpha) is not run; expected 1"))
        }
        let (m, k) = op.transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = op.transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb, m > 0, n > 0, k > 0 else {
            return .failure(EmberError(.unsupported, "A \(a) and B \(b) do not make a product (transA \(op.transA), transB \(op.transB))"))
        }
        guard y.shape == [m, n], y.dtype == a.dtype else {
            return .failure(EmberError(.unsupported, "the output \(y) is not \(a.dtype)[\(m), \(n)]"))
        }
        let shape = CUDAMatmul.Shape(m: m, n: n, k: k, transposedX: op.transA, transposedW: op.transB)
        let c = node.inputs.count > 2 ? node.inputs[2] : nil
        guard let c, op.beta != 0 else {
            return .success(.matmul(MatmulPlan(shape: shape, dtype: a.dtype, hasBias: false, activation: .none)))
        }
        guard op.beta == 1 else {
            return .failure(EmberError(.unsupported, "beta \(op.beta) with C is not run; expected 0 or 1"))
        }
        guard c.dtype == a.dtype else { return .failure(EmberError(.unsupported, "C is \(c.dtype); expected \(a.dtype)")) }
        if c.shape == [n] || c.shape == [1, n] {
            return .success(.matmul(MatmulPlan(shape: shape, dtype: a.dtype, hasBias: true, activation: .none)))
        }
        // C broadcast some other way: Y += C after the product, in place.
        let body: FusedBody
        do {
            body = try FusedBody([FusedBody.Step(op: Add(), operands: [.input(0), .input(1)])], op: FusedEpilogue.name)
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
        let product = MatmulPlan(shape: shape, dtype: a.dtype, hasBias: false, activation: .none)
        return CUDAElementwiseGenerator.generate(
            body, inputs: [CUDATensorType(a.dtype, [m, n]), c], output: y, multiprocessors: multiprocessors, inPlace: true
        ).map { .matmulThen(product, Epilogue(kernel: $0, reads: [2])) }
    }
}
