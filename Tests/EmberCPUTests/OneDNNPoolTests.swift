import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct OneDNNPoolTests {
    static let windows: [[(String, Attribute)]] = [
        [("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1]))],
        [("kernel_shape", .ints([2, 3])), ("strides", .ints([2, 2])), ("ceil_mode", .int(1))],
        [("kernel_shape", .ints([3, 2])), ("pads", .ints([1, 0, 2, 1])), ("strides", .ints([1, 2]))],
        [("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2])), ("auto_pad", .string("SAME_UPPER"))],
    ]

    @Test(arguments: windows.indices) func maxPool(_ i: Int) throws {
        try expectOneDNNMatches(try makeOp("max_pool", Self.windows[i]), [random([2, 19, 13, 12], seed: 1)], blocked: [0])
    }

    @Test func maxPoolWithDilations() throws {
        let op = try makeOp("max_pool", [("kernel_shape", .ints([2, 2])), ("dilations", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1]))])
        try expectOneDNNMatches(op, [random([1, 5, 9, 10], seed: 2)], blocked: [0])
    }

    @Test(arguments: windows.indices, [false, true]) func averagePool(_ i: Int, _ includePad: Bool) throws {
        let op = try makeOp("average_pool", Self.windows[i] + [("count_include_pad", .int(includePad ? 1 : 0))])
        let (node, _) = try oneDNNNode(op, [random([2, 19, 13, 12], seed: 3)])
        if case .unsupported(let reason) = OneDNNKernels().support(node) {
            #expect(includePad && reason.contains("ceil_mode"), "\(reason)")
            return
        }
        try expectOneDNNMatches(op, [random([2, 19, 13, 12], seed: 3)], blocked: [0])
    }

    @Test func oneDimensionalPool() throws {
        let op = try makeOp("average_pool", [("kernel_shape", .ints([3])), ("strides", .ints([2])), ("pads", .ints([1, 1]))])
        try expectOneDNNMatches(op, [random([2, 7, 15], seed: 4)], blocked: [0])
    }

    @Test func globalPools() throws {
        try expectOneDNNMatches(GlobalAveragePool(), [random([2, 21, 7, 7], seed: 5)], blocked: [0])
        try expectOneDNNMatches(GlobalMaxPool(), [random([2, 21, 7, 5], seed: 6)], blocked: [0])
    }
}
