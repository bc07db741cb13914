import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct OneDNNMatMulTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmTransposes(_ transA: Bool, _ transB: Bool) throws {
        let (m, k, n) = (7, 13, 10)
        let op = Gemm(alpha: 1, beta: 1, transA: transA, transB: transB)
        let a = random(transA ? [k, m] : [m, k], seed: 1), b = random(transB ? [n, k] : [k, n], seed: 2)
        try expectOneDNNMatches(op, [a, b, random([n], seed: 3)], constant: [1, 2])
        try expectOneDNNMatches(op, [a, b], constant: [])
    }

    @Test(arguments: [[Int](), [1], [9], [1, 9], [5, 1], [5, 9]])
    func gemmScalesAndBroadcastsC(_ cShape: [Int]) throws {
        let op = Gemm(alpha: 0.5, beta: 2, transA: false, transB: true)
        let inputs: [Tensor?] = [random([5, 6], seed: 4), random([9, 6], seed: 5), random(cShape, seed: 6)]
        try expectOneDNNMatches(op, inputs, constant: [1, 2])
        try expectOneDNNMatches(Gemm(alpha: 1, beta: 1), [random([5, 6], seed: 4), random([6, 9], seed: 5), random(cShape, seed: 6)])
    }

    @Test func gemmWithComputedCAndBetaIsUnsupported() throws {
        let (node, _) = try oneDNNNode(Gemm(alpha: 1, beta: 3), [random([2, 3], seed: 1), random([3, 4], seed: 2), random([4], seed: 3)])
        guard case .unsupported(let reason) = OneDNNKernels().support(node) else {
            Issue.record("expected unsupported")
            return
        }
        #expect(reason.contains("beta"))
    }

    @Test(arguments: [
        ([7, 11], [11, 5]), ([3, 7, 11], [11, 5]), ([2, 3, 4, 6], [2, 3, 6, 5]), ([2, 1, 4, 6], [3, 6, 5]),
        ([4, 6], [3, 6, 5]), ([6], [6, 5]), ([4, 6], [6]), ([2, 5, 6], [6]),
    ])
    func matmulShapes(_ sa: [Int], _ sb: [Int]) throws {
        try expectOneDNNMatches(MatMul(), [random(sa, seed: 1), random(sb, seed: 2)])
        try expectOneDNNMatches(MatMul(), [random(sa, seed: 1), random(sb, seed: 2)], constant: [1])
    }

    @Test func linearWithSymbolicBatch() throws {
        let w = random([24, 19], seed: 1), b = random([19], seed: 2)
        for bias in [true, false] {
            let inputs: [Tensor?] = [random([2, 3, 24], seed: 3), w, bias ? b : nil]
            try expectOneDNNMatches(Linear(), inputs, constant: [1, 2])
            let (node, _) = try oneDNNNode(Linear(), inputs, constant: [1, 2], symbolic: true)
            let runner = try OneDNNRunner(node)
            for batch in [1, 4] {
                let x = random([batch, 3, 24], seed: UInt64(batch))
                let expected = try Linear().evaluate([x, w, bias ? b : nil], outputCount: 1)[0]
                let actual = try runner.run([x, w, bias ? b : nil], outputShape: expected.shape)
                #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-4, "batch \(batch)")
            }
        }
    }
}
