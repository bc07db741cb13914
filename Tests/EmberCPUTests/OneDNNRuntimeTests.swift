import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Foundation
import Testing

@Suite struct OneDNNLoaderTests {
    @Test func missingLibraryReportsWhyWithoutCrashing() {
        let status = OneDNN.load(path: "/nonexistent/libdnnl.so.2")
        guard case .unavailable(let reason) = status else {
            Issue.record("expected unavailable, got \(status)")
            return
        }
        #expect(reason.contains("/nonexistent/libdnnl.so.2"))
        #expect(reason.contains("No such file"), "\(reason)")
    }

    @Test func statusNamesTheVersionOrTheReason() {
        switch OneDNN.status {
        case .available(let version): #expect(version.hasPrefix("2.") || version.hasPrefix("3."), "\(version)")
        case .unavailable(let reason):
            print("oneDNN is not available here: \(reason)")
            #expect(!reason.isEmpty)
        }
    }
}

@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct OneDNNRuntimeTests {
    @Test(arguments: [[1, 19, 5, 7], [2, 5, 3], [1, 33, 2, 3, 4]])
    func conversionRoundTripsExactly(_ shape: [Int]) throws {
        let x = random(shape, seed: 1)
        let type = x.type
        let plain = TestBuffer(x), blocked = TestBuffer(shape: shape, layout: .channelBlocked(testBlock)), back = TestBuffer(shape: shape)
        let context = KernelContext()
        try OneDNNKernels.conversion(type: type, from: .plain, to: .channelBlocked(testBlock)).run([plain.view], [blocked.view], context)
        try OneDNNKernels.conversion(type: type, from: .channelBlocked(testBlock), to: .plain).run([blocked.view], [back.view], context)
        #expect(back.tensor == x)
        // The padding channels of the last block of the first image are zeros.
        let (c, block, spatial) = (shape[1], testBlock, shape.dropFirst(2).reduce(1, *))
        if c % block != 0 {
            let values = UnsafeBufferPointer(start: blocked.view.floats, count: blocked.view.byteCount / 4)
            let lastBlock = (c / block) * spatial * block
            for position in 0..<spatial {
                let start = lastBlock + position * block
                #expect(values[start + c % block..<start + block].allSatisfy { $0 == 0 })
            }
        }
    }

    @Test func eightThreadsMatchSequentialRuns() throws {
        let conv = try makeOp("conv", [("pads", .ints([1, 1, 1, 1]))])
        let op = try fusedEpilogue([(conv, [.input(0), .input(1), .input(2)]), (Relu(), [.step(0)])])
        let w = random([24, 9, 3, 3], seed: 2), b = random([24], seed: 3)
        let (node, _) = try oneDNNNode(op, [random([1, 9, 12, 12], seed: 4), w, b], constant: [1, 2], symbolic: true)
        let runner = try OneDNNRunner(node)
        let inputs = (0..<8).map { random([1 + $0 % 2, 9, 12, 12], seed: UInt64(10 + $0)) }
        let sequential = try inputs.map { x in try runner.run([x, w, b], outputShape: [x.shape[0], 24, 12, 12]) }
        let results = ThreadResults<Tensor>(count: inputs.count)
        DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
            let x = inputs[i]
            results.set(i, try? runner.run([x, w, b], outputShape: [x.shape[0], 24, 12, 12]))
        }
        for i in inputs.indices {
            #expect(results.get(i) == sequential[i], "thread \(i)")
            let expected = try op.evaluate([inputs[i], w, b], outputCount: 1)[0]
            #expect((sequential[i].relativeError(to: expected) ?? .infinity) <= 1e-4)
        }
    }

    @Test func unsupportedNodesSayWhy() throws {
        let f16 = KernelNode(op: Relu(), inputTypes: [TensorType(.f16, known: [2, 3])], outputTypes: [TensorType(.f16, known: [2, 3])])
        #expect(OneDNNKernels().support(f16) == .unsupported("input of f16; oneDNN kernels run f32"))
        let softmax = KernelNode(op: try makeOp("softmax", [("axis", .int(-1))]), inputTypes: [TensorType(.f32, known: [2, 3])], outputTypes: [TensorType(.f32, known: [2, 3])])
        #expect(OneDNNKernels().support(softmax) == .unsupported("no oneDNN kernel for softmax"))
        let maxPoolIndices = try makeOp("max_pool", [("kernel_shape", .ints([2, 2]))])
        let node = KernelNode(
            op: maxPoolIndices, inputTypes: [TensorType(.f32, known: [1, 2, 4, 4])],
            outputTypes: [TensorType(.f32, known: [1, 2, 3, 3]), TensorType(.i64, known: [1, 2, 3, 3])])
        #expect(OneDNNKernels().support(node) == .unsupported("expected one f32 output"))
        #expect(throws: EmberError.self) { try OneDNNKernels().makeKernel(node) }
    }

    @Test func layoutPreferences() throws {
        let block = try #require(OneDNN.channelBlock)
        let conv = try makeOp("conv", [])
        let (node, _) = try oneDNNNode(conv, [random([1, 3, 5, 5], seed: 1), random([4, 3, 1, 1], seed: 2)], constant: [1])
        let provider = OneDNNKernels()
        #expect(provider.preferredLayout(node, output: 0) == .channelBlocked(block))
        #expect(provider.accepts(node, input: 0, layout: .channelBlocked(block)))
        #expect(!provider.accepts(node, input: 1, layout: .channelBlocked(block)))
        let (linear, _) = try oneDNNNode(Linear(), [random([2, 3, 4], seed: 3), random([4, 5], seed: 4)], constant: [1])
        #expect(provider.preferredLayout(linear, output: 0) == .plain)
        #expect(!provider.accepts(linear, input: 0, layout: .channelBlocked(block)))
    }
}
