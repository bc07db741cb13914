import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// A fused_epilogue from (op, operands) steps.
func fusedEpilogue(_ steps: [(any Operator, [FusedBody.Operand?])]) throws -> FusedEpilogue {
    try FusedEpilogue(FusedBody(steps.map { FusedBody.Step(op: $0.0, operands: $0.1) }, op: FusedEpilogue.name))
}

@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct OneDNNEpilogueTests {
    static let activations: [any Operator] = [
        Relu(), LeakyRelu(alpha: 0.1), Sigmoid(), Tanh(), Gelu(approximate: .none), Gelu(approximate: .tanh), Silu(),
        Swish(alpha: 1.5), HardSwish(), HardSigmoid(alpha: 0.2, beta: 0.5), Elu(alpha: 0.7), Exp(), Abs(), Neg(), Mish(),
    ]

    let conv = try! makeOp("conv", [("pads", .ints([1, 1, 1, 1])), ("strides", .ints([2, 2]))])
    let x = random([2, 7, 9, 11], seed: 1), w = random([20, 7, 3, 3], seed: 2), b = random([20], seed: 3)

    @Test(arguments: activations.indices) func convWithActivation(_ i: Int) throws {
        let op = try fusedEpilogue([(conv, [.input(0), .input(1), .input(2)]), (Self.activations[i], [.step(0)])])
        try expectOneDNNMatches(op, [x, w, b], constant: [1, 2], blocked: [0])
    }

    @Test(arguments: activations.indices) func linearWithActivation(_ i: Int) throws {
        let op = try fusedEpilogue([(Linear(), [.input(0), .input(1), .input(2)]), (Self.activations[i], [.step(0)])])
        try expectOneDNNMatches(op, [random([3, 5, 16], seed: 4), random([16, 21], seed: 5), random([21], seed: 6)], constant: [1, 2])
    }

    @Test func convResidualAddRelu() throws {
        let op = try fusedEpilogue([
            (conv, [.input(0), .input(1), .input(2)]), (Add(), [.step(0), .input(3)]), (Relu(), [.step(1)]),
        ])
        let residual = random([2, 20, 5, 6], seed: 7)
        try expectOneDNNMatches(op, [x, w, b, residual], constant: [1, 2], blocked: [0, 3])
        // The residual on the left, subtracted, and after the activation.
        let reversed = try fusedEpilogue([
            (conv, [.input(0), .input(1)]), (Relu(), [.step(0)]), (Sub(), [.input(2), .step(1)]),
        ])
        try expectOneDNNMatches(reversed, [x, w, residual], constant: [1], blocked: [0, 2])
    }

    @Test func residualBufferSharedWithOutput() throws {
        let op = try fusedEpilogue([(conv, [.input(0), .input(1), .input(2)]), (Add(), [.step(0), .input(3)])])
        let residual = random([2, 20, 5, 6], seed: 8)
        let (node, expected) = try oneDNNNode(op, [x, w, b, residual], constant: [1, 2])
        #expect(OneDNNKernels().inPlaceInput(node, output: 0) == 3)
        let kernel = try OneDNNKernels().makeKernel(node)
        let buffers = [x, w, b, residual].map { TestBuffer($0) }
        try kernel.run(buffers.map(\.view), [buffers[3].view], KernelContext())
        #expect((buffers[3].tensor.relativeError(to: expected) ?? .infinity) <= 1e-4)
    }

    @Test func convPerChannelBiasScaleAndRelu6() throws {
        let op = try fusedEpilogue([
            (conv, [.input(0), .input(1)]), (Add(), [.step(0), .input(2)]), (Mul(), [.step(1), .input(3)]),
            (Clip(), [.step(2), .input(4), .input(5)]),
        ])
        let inputs: [Tensor?] = [
            x, w, random([20, 1, 1], seed: 9), random([1, 20, 1, 1], seed: 10), Tensor(shape: [], floats: [0]), Tensor(shape: [], floats: [0.6]),
        ]
        try expectOneDNNMatches(op, inputs, constant: [1, 2, 3, 4, 5], blocked: [0])
        try expectOneDNNMatches(op, inputs, constant: [1, 4, 5], blocked: [0])
    }

    @Test func scalarConstantsBecomeLinearSteps() throws {
        let op = try fusedEpilogue([
            (conv, [.input(0), .input(1)]), (Mul(), [.step(0), .input(2)]), (Sub(), [.input(3), .step(1)]),
            (Div(), [.step(2), .input(2)]),
        ])
        try expectOneDNNMatches(op, [x, w, Tensor(shape: [], floats: [1.5]), Tensor(shape: [1], floats: [0.25])], constant: [1, 2, 3])
    }

    @Test func gemmAndMatmulEpilogues() throws {
        let gemm = try fusedEpilogue([
            (Gemm(alpha: 0.5, beta: 1, transA: false, transB: true), [.input(0), .input(1), .input(2)]),
            (Add(), [.step(0), .input(3)]), (Tanh(), [.step(1)]),
        ])
        try expectOneDNNMatches(gemm, [random([6, 8], seed: 1), random([10, 8], seed: 2), random([10], seed: 3), random([6, 10], seed: 4)], constant: [1, 2])
        let matmul = try fusedEpilogue([(MatMul(), [.input(0), .input(1)]), (Add(), [.step(0), .input(2)]), (Gelu(), [.step(1)])])
        try expectOneDNNMatches(matmul, [random([2, 6, 8], seed: 5), random([8, 12], seed: 6), random([12], seed: 7)], constant: [1, 2])
        try expectOneDNNMatches(matmul, [random([2, 6, 8], seed: 5), random([8, 12], seed: 6), random([2, 6, 12], seed: 8)], constant: [1])
    }

    @Test func stepsThatAreNotPostOpsAreUnsupported() throws {
        let op = try fusedEpilogue([(conv, [.input(0), .input(1)]), (Sigmoid(), [.step(0)]), (Softsign(), [.step(1)])])
        let (node, _) = try oneDNNNode(op, [x, w], constant: [1])
        guard case .unsupported(let reason) = OneDNNKernels().support(node) else {
            Issue.record("expected unsupported")
            return
        }
        #expect(reason.contains("softsign"), "\(reason)")
    }
}
