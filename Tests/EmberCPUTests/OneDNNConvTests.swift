import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct OneDNNConvTests {
    struct Case: CustomStringConvertible {
        var x: [Int], w: [Int]
        var attributes: [(String, Attribute)] = []
        var bias = true
        var description: String { "x \(x) w \(w) \(attributes.map { "\($0.0)=\($0.1)" })" }
    }

    static let cases: [Case] = [
        Case(x: [1, 3, 17, 19], w: [16, 3, 3, 3], attributes: [("pads", .ints([1, 1, 1, 1]))]),
        Case(x: [2, 5, 13, 11], w: [7, 5, 3, 2], attributes: [("strides", .ints([2, 1])), ("pads", .ints([0, 1, 2, 0]))], bias: false),
        Case(x: [1, 24, 15, 15], w: [24, 1, 3, 3], attributes: [("group", .int(24)), ("pads", .ints([1, 1, 1, 1])), ("strides", .ints([2, 2]))]),
        Case(x: [1, 12, 9, 10], w: [18, 4, 3, 3], attributes: [("group", .int(3)), ("dilations", .ints([2, 1])), ("pads", .ints([2, 1, 2, 1]))]),
        Case(x: [2, 17, 8, 8], w: [33, 17, 1, 1]),
        Case(x: [1, 6, 14, 14], w: [10, 6, 3, 3], attributes: [("auto_pad", .string("SAME_UPPER")), ("strides", .ints([2, 2]))]),
        Case(x: [1, 6, 13, 13], w: [10, 6, 4, 4], attributes: [("auto_pad", .string("SAME_LOWER")), ("strides", .ints([3, 3]))]),
        Case(x: [2, 4, 29], w: [9, 4, 5], attributes: [("strides", .ints([2])), ("pads", .ints([2, 1])), ("dilations", .ints([2]))]),
        Case(x: [1, 3, 6, 7, 5], w: [5, 3, 3, 3, 2], attributes: [("pads", .ints([1, 1, 0, 1, 1, 1]))]),
    ]

    @Test(arguments: cases) func matchesReference(_ c: Case) throws {
        let op = try makeOp("conv", c.attributes)
        let inputs: [Tensor?] = [random(c.x, seed: 1), random(c.w, seed: 2), c.bias ? random([c.w[0]], seed: 3) : nil]
        try expectOneDNNMatches(op, inputs, constant: [1, 2], blocked: [0])
    }

    @Test func computedWeightsMatchReference() throws {
        let op = try makeOp("conv", [("pads", .ints([1, 1, 1, 1])), ("group", .int(2))])
        let inputs: [Tensor?] = [random([1, 6, 9, 9], seed: 4), random([10, 3, 3, 3], seed: 5), random([10], seed: 6)]
        try expectOneDNNMatches(op, inputs, blocked: [0])
    }

    @Test func symbolicBatchRunsAtTwoSizes() throws {
        let op = try makeOp("conv", [("pads", .ints([1, 1, 1, 1])), ("strides", .ints([2, 2]))])
        let w = random([20, 5, 3, 3], seed: 7), b = random([20], seed: 8)
        let (node, _) = try oneDNNNode(
            op, [random([1, 5, 11, 11], seed: 9), w, b], constant: [1, 2], symbolic: true,
            inputLayouts: [.channelBlocked(testBlock), .plain, .plain], outputLayout: .channelBlocked(testBlock))
        #expect(node.inputTypes[0]?.shape?[0] == .symbol("N"))
        let runner = try OneDNNRunner(node)
        for batch in [1, 3] {
            let x = random([batch, 5, 11, 11], seed: UInt64(10 + batch))
            let expected = try op.evaluate([x, w, b], outputCount: 1)[0]
            let actual = try runner.run([x, w, b], outputShape: expected.shape)
            #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-4, "batch \(batch)")
        }
    }

    @Test func winogradSizedConvolutionsAgreeAtEveryBatch() throws {
        // 3x3 stride 1 with constant weights and 16x16 outputs: oneDNN's Winograd where it has
        // it, whose transformed weights differ by batch; the third batch size runs direct.
        let op = try makeOp("conv", [("pads", .ints([1, 1, 1, 1]))])
        let w = random([32, 32, 3, 3], seed: 11), b = random([32], seed: 12)
        let (node, _) = try oneDNNNode(
            op, [random([1, 32, 16, 16], seed: 13), w, b], constant: [1, 2], symbolic: true,
            inputLayouts: [.channelBlocked(testBlock), .plain, .plain], outputLayout: .channelBlocked(testBlock))
        let runner = try OneDNNRunner(node)
        for batch in [1, 4, 2, 1] {
            let x = random([batch, 32, 16, 16], seed: UInt64(20 + batch))
            let expected = try op.evaluate([x, w, b], outputCount: 1)[0]
            let actual = try runner.run([x, w, b], outputShape: expected.shape)
            #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-4, "batch \(batch)")
        }
        #expect(try runner.kernel.restoredConstant(at: 1) == w, "the weight as given, whatever the kernel keeps")
    }

    static let transposedCases: [Case] = [
        Case(x: [1, 5, 7, 6], w: [5, 3, 3, 3], attributes: [("strides", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1]))]),
        Case(x: [2, 6, 5, 5], w: [6, 4, 4, 3], attributes: [("strides", .ints([2, 1])), ("group", .int(2)), ("pads", .ints([1, 0, 1, 1]))], bias: false),
        Case(x: [1, 4, 6, 5], w: [4, 7, 3, 3], attributes: [("strides", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1])), ("output_padding", .ints([1, 1]))]),
        Case(x: [1, 3, 9], w: [3, 5, 3], attributes: [("strides", .ints([3])), ("dilations", .ints([2]))]),
    ]

    @Test(arguments: transposedCases) func transposedMatchesReference(_ c: Case) throws {
        let op = try makeOp("conv_transpose", c.attributes)
        let inputs: [Tensor?] = [random(c.x, seed: 1), random(c.w, seed: 2), c.bias ? random([c.w[1] * groups(c)], seed: 3) : nil]
        try expectOneDNNMatches(op, inputs, constant: [1, 2], blocked: [0])
        try expectOneDNNMatches(op, inputs, constant: [], blocked: [0])
    }

    private func groups(_ c: Case) -> Int {
        for (name, value) in c.attributes where name == "group" { if case .int(let g) = value { return g } }
        return 1
    }
}
