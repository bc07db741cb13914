import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct OneDNNElementwiseTests {
    let x = random([2, 19, 5, 7], seed: 1)

    @Test(arguments: OneDNNEpilogueTests.activations.indices) func unaryOps(_ i: Int) throws {
        try expectOneDNNMatches(OneDNNEpilogueTests.activations[i], [x], blocked: [0])
    }

    @Test func clipWithConstantBounds() throws {
        try expectOneDNNMatches(Clip(), [x, Tensor(shape: [], floats: [-0.2]), Tensor(shape: [], floats: [0.3])], constant: [1, 2], blocked: [0])
        try expectOneDNNMatches(Clip(), [x, nil, Tensor(shape: [], floats: [0.3])], constant: [2], blocked: [0])
    }

    @Test func unaryOpChangingLayout() throws {
        for (from, to) in [(CPULayout.plain, CPULayout.channelBlocked(testBlock)), (.channelBlocked(testBlock), .plain)] {
            let (node, expected) = try oneDNNNode(Relu(), [x], inputLayouts: [from], outputLayout: to)
            let actual = try OneDNNRunner(node).run([x], outputShape: expected.shape)
            #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-4, "\(from) to \(to)")
        }
    }

    @Test(arguments: [[2, 19, 5, 7], [1, 19, 1, 1], [19, 1, 1], [1]])
    func binaryOps(_ shape: [Int]) throws {
        let y = random(shape, seed: 2)
        for op in [Add(), Sub(), Mul(), Div()] as [any Operator] {
            let second = op is Div ? Tensor(shape: y.shape, floats: y.floats().map { $0 + ($0 >= 0 ? 0.5 : -0.5) }) : y
            let blocked = shape.count == 4 && shape[0] == 2 ? [0, 1] : [0]
            try expectOneDNNMatches(op, [x, second], blocked: blocked)
            try expectOneDNNMatches(op, [x, second], constant: [1], blocked: [0])
        }
        try expectOneDNNMatches(Add(), [y, x], blocked: shape.count == 4 && shape[0] == 2 ? [0, 1] : [1])
    }

    @Test func batchNormWithConstantAndComputedParameters() throws {
        let c = 19
        let parameters = [random([c], seed: 3), random([c], seed: 4), random([c], seed: 5), random([c], in: 0.1...2, seed: 6)]
        let op = BatchNorm(epsilon: 1e-3)
        try expectOneDNNMatches(op, [x] + parameters, constant: [1, 2, 3, 4], blocked: [0])
        try expectOneDNNMatches(op, [x] + parameters)
    }
}

private func random(_ shape: [Int], in range: ClosedRange<Double>, seed: UInt64) -> Tensor {
    Tensor.random(.f32, shape, in: range, seed: seed)
}
