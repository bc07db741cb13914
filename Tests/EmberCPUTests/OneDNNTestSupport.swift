import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// Memory for one value in a test run, freed with the object.
final class TestBuffer: @unchecked Sendable {
    let view: TensorView

    init(shape: [Int], layout: CPULayout = .plain) {
        let bytes = layout.byteCount(shape: shape, dtype: .f32)
        let data = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        data.initializeMemory(as: UInt8.self, repeating: 0xFF, count: bytes)
        view = TensorView(data: data, dtype: .f32, shape: shape, layout: layout)
    }

    convenience init(_ tensor: Tensor) {
        self.init(shape: tensor.shape)
        let values = tensor.floats()
        values.withUnsafeBytes { view.data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    var tensor: Tensor {
        Tensor(shape: view.shape, floats: Array(UnsafeBufferPointer(start: view.floats, count: view.count)))
    }

    deinit { view.data.deallocate() }
}

/// Runs one oneDNN kernel on tensors in the node's layouts: inputs in a blocked layout are
/// converted with the provider's conversion kernel before the run, and the output after it.
struct OneDNNRunner {
    let kernel: any CPUKernel
    let node: KernelNode

    init(_ node: KernelNode) throws {
        self.node = node
        kernel = try OneDNNKernels().makeKernel(node)
    }

    func run(_ inputs: [Tensor?], outputShape: [Int], context: KernelContext = KernelContext()) throws -> Tensor {
        var keep: [TestBuffer] = []
        var views: [TensorView?] = []
        for (i, input) in inputs.enumerated() {
            guard let input else { views.append(nil); continue }
            let plain = TestBuffer(input)
            keep.append(plain)
            let layout = node.inputLayouts[i]
            if layout == .plain {
                views.append(plain.view)
                continue
            }
            let blocked = TestBuffer(shape: input.shape, layout: layout)
            keep.append(blocked)
            try OneDNNKernels.conversion(type: input.type, from: .plain, to: layout).run([plain.view], [blocked.view], context)
            views.append(blocked.view)
        }
        let layout = node.outputLayouts[0]
        let output = TestBuffer(shape: outputShape, layout: layout)
        try kernel.run(views, [output.view], context)
        if layout == .plain { return output.tensor }
        let plain = TestBuffer(shape: outputShape)
        try OneDNNKernels.conversion(type: TensorType(.f32, known: outputShape), from: layout, to: .plain)
            .run([output.view], [plain.view], context)
        return plain.tensor
    }
}

/// The block oneDNN prefers here, 8 where it reports none (the tests still run both layouts).
var testBlock: Int { OneDNN.channelBlock ?? 8 }

/// A node for `op` on `inputs`, with output type from the reference evaluation; inputs listed in
/// `constant` are graph constants; `symbolic` replaces dim 0 of every computed input and the
/// output with the symbol `N`.
func oneDNNNode(
    _ op: any Operator, _ inputs: [Tensor?], constant: Set<Int> = [], symbolic: Bool = false,
    inputLayouts: [CPULayout]? = nil, outputLayout: CPULayout = .plain
) throws -> (KernelNode, Tensor) {
    let expected = try op.evaluate(inputs, outputCount: 1)[0]
    func type(_ t: Tensor, _ computed: Bool) -> TensorType {
        var type = t.type
        if symbolic, computed, !t.shape.isEmpty { type.shape![0] = .symbol("N") }
        return type
    }
    let node = KernelNode(
        op: op, name: "n", inputTypes: inputs.enumerated().map { i, t in t.map { type($0, !constant.contains(i)) } },
        outputTypes: [type(expected, true)],
        constants: inputs.enumerated().map { i, t in constant.contains(i) ? t : nil },
        inputLayouts: inputLayouts, outputLayouts: [outputLayout])
    return (node, expected)
}

/// Checks that oneDNN computes `op` on `inputs` like the reference evaluation, within 1e-4 of the
/// largest magnitude, in plain layout and, where `blocked` lists inputs, with those inputs and the
/// output channel-blocked.
func expectOneDNNMatches(
    _ op: any Operator, _ inputs: [Tensor?], constant: Set<Int> = [], blocked: [Int]? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    var cases: [[CPULayout]] = [inputs.map { _ in .plain }]
    if let blocked {
        cases.append(inputs.indices.map { blocked.contains($0) ? .channelBlocked(testBlock) : .plain })
    }
    for layouts in cases {
        let outputLayout: CPULayout = layouts.allSatisfy { $0 == .plain } ? .plain : .channelBlocked(testBlock)
        let (node, expected) = try oneDNNNode(op, inputs, constant: constant, inputLayouts: layouts, outputLayout: outputLayout)
        let support = OneDNNKernels().support(node)
        #expect(support == .supported, "\(op.name): \(support)", sourceLocation: sourceLocation)
        let actual = try OneDNNRunner(node).run(inputs, outputShape: expected.shape)
        let error = actual.relativeError(to: expected) ?? .infinity
        #expect(error <= 1e-4, "\(op.name) \(op.attributes) in \(outputLayout): relative error \(error)", sourceLocation: sourceLocation)
    }
}

/// A random f32 tensor with values in -1...1.
func random(_ shape: [Int], seed: UInt64) -> Tensor { Tensor.random(.f32, shape, seed: seed) }

