@testable import EmberCPU
import EmberIR
import EmberOps
import EmberPasses
import EmberReference
import EmberTestSupport
import Foundation
import Testing

/// A provider for tests: runs `relu` on any layout (relu keeps zero padding zero), prefers a
/// channel-blocked layout for its output, and may write over its input.
struct BlockedRelu: CPUKernelProvider {
    var preferred = CPULayout.channelBlocked(4)
    var name: String { "blocked-relu" }

    func support(_ node: KernelNode) -> KernelSupport {
        node.op.name == "relu" && node.outputTypes[0].dtype == .f32 ? .supported : .unsupported("only relu")
    }
    func preferredLayout(_ node: KernelNode, output index: Int) -> CPULayout { preferred }
    func accepts(_ node: KernelNode, input index: Int, layout: CPULayout) -> Bool { true }
    func inPlaceInput(_ node: KernelNode, output index: Int) -> Int? { 0 }

    func makeKernel(_ node: KernelNode) throws -> any CPUKernel {
        Kernel(conversion: node.inputLayouts[0] == node.outputLayouts[0] ? nil : LayoutConversion(from: node.inputLayouts[0], to: node.outputLayouts[0]))
    }

    struct Kernel: CPUKernel {
        let conversion: LayoutConversion?

        func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
            var x = inputs[0]!
            let y = outputs[0]
            if let conversion {
                try conversion.run([x], [y], context)
                x = y
            }
            let count = y.byteCount / 4
            for i in 0..<count { y.floats[i] = max(x.floats[i], 0) }
        }
    }
}

@Suite struct ProgramTests {
    static func graph(_ text: String) throws -> Graph { try Graph(parsing: text, registry: .standard) }

    /// Runs `graph` on the CPU program and on the reference backend and compares every output.
    static func expectSameAsReference(_ program: CPUProgram, _ inputs: [String: Tensor]) throws {
        let expected = try ReferenceBackend().run(program.graph, inputs: inputs)
        let actual = try program.run(inputs)
        #expect(actual.map(\.name) == expected.map(\.name))
        for (a, e) in zip(actual, expected) {
            let error = try #require(a.tensor.relativeError(to: e.tensor), "\(a.name): \(a.tensor.type) vs \(e.tensor.type)")
            #expect(error <= 1e-6, "\(a.name)")
        }
    }

    /// `conv(x) + x` fused into one oneDNN convolution: its sum must not be written over x,
    /// which the convolution is still reading (a pool in front makes x an arena value).
    @Test func convolutionPlusItsOwnInputIsNotRunInPlace() throws {
        let w = Tensor.random(.f32, [8, 8, 3, 3], in: -0.5...0.5, seed: 1)
        var builder = GraphBuilder()
        let x = builder.input("x", TensorType(.f32, ["batch", 8, 16, 16]))
        let weight = builder.constant(w, name: "w")
        let p = try builder.add(MaxPool(attributes: Attributes(op: "max_pool", [("kernel_shape", .ints([2, 2])), ("strides", .ints([2, 2]))])), [x])[0]
        let c = try builder.add(Conv(attributes: Attributes(op: "conv", [("pads", .ints([1, 1, 1, 1]))])), [p, weight])[0]
        let s = try builder.add(Add(), [c, p])[0]
        let r = try builder.add(Relu(), [s])[0]
        let g = try builder.add(GlobalAveragePool(), [r])[0]
        builder.output(g)
        var graph = try builder.finish()
        try PassManager(Pipeline.passes(.O2)).run(&graph)
        #expect(graph.nodes.contains { $0.op is FusedEpilogue })
        let inputs: [String: Tensor] = ["x": .random(.f32, [2, 8, 16, 16], seed: 2)]
        let expected = try ReferenceBackend().run(graph, inputs: inputs)[0].tensor
        let actual = try CPUProgram(graph, providers: CPUBackend.providers).run(inputs)[0].tensor
        let error = try #require(actual.relativeError(to: expected))
        #expect(error <= 1e-5, "relative error \(error)")
    }

    @Test func symbolicBatchWithShapeArithmeticRunsAtSeveralSizes() throws {
        let program = try CPUProgram(
            Self.graph("""
                graph @main(%x: f32[batch,8,6]) {
                  %c0 = constant i64[] [0]
                  %axes = constant i64[1] [0]
                  %tail = constant i64[3] [4, 2, 6]
                  %s = shape(%x) {start = 0} : i64[3]
                  %b = gather(%s, %c0) {axis = 0} : i64[]
                  %bu = unsqueeze(%b, %axes) : i64[1]
                  %target = concat(%bu, %tail) {axis = 0} : i64[4]
                  %r = reshape(%x, %target) {allowzero = 0} : f32[?,?,?,?]
                  %e = exp(%r) : f32[?,?,?,?]
                  %y = softmax(%e) {axis = -1} : f32[?,?,?,?]
                  return %y, %r
                }
                """), providers: [ReferenceKernels()])
        for batch in [1, 3, 5] {
            try Self.expectSameAsReference(program, ["x": .random(.f32, [batch, 8, 6], seed: UInt64(batch))])
            #expect(try program.arenaSize(for: [[batch, 8, 6]]) != nil, "batch \(batch) should be planned ahead")
        }
    }

    @Test func shapeArithmeticThroughComparisonsIsPlannedAhead() throws {
        // The exporters' guard for -1 in a target shape: where(equal(t, -1), 1, t), then expand.
        let program = try CPUProgram(
            Self.graph("""
                graph @main(%x: f32[batch,1], %ids: i64[batch,seq]) {
                  %minus = constant i64[] [-1]
                  %one = constant i64[] [1]
                  %t = shape(%ids) {start = 0} : i64[2]
                  %missing = equal(%t, %minus) : bool[2]
                  %target = where(%missing, %one, %t) : i64[2]
                  %y = expand(%x, %target) : f32[?,?]
                  return %y
                }
                """), providers: [ReferenceKernels()])
        for (batch, seq) in [(1, 5), (3, 7)] {
            try Self.expectSameAsReference(
                program, ["x": .random(.f32, [batch, 1], seed: 1), "ids": .random(.i64, [batch, seq], in: 0...9, seed: 2)])
            #expect(try program.arenaSize(for: [[batch, 1], [batch, seq]]) != nil, "[\(batch), \(seq)] should be planned ahead")
        }
    }

    @Test func blockedValuesGetPlainCopiesWhereAConsumerNeedsThem() throws {
        // %a and %b stay blocked between relus; add (reference kernels, plain only) and the graph's
        // output read a plain copy of %b, and %d, read by nothing blocked, is written plain.
        let program = try CPUProgram(
            Self.graph("""
                graph @main(%x: f32[2,6,3,5]) {
                  %a = relu(%x) : f32[2,6,3,5]
                  %b = relu(%a) : f32[2,6,3,5]
                  %c = add(%b, %x) : f32[2,6,3,5]
                  %d = relu(%b) : f32[2,6,3,5]
                  return %c, %d, %b
                }
                """), providers: [BlockedRelu(), ReferenceKernels()])
        #expect(program.conversionCount == 1)
        #expect(program.partition.assignments.map(\.providerName) == ["blocked-relu", "blocked-relu", "reference", "blocked-relu"])
        try Self.expectSameAsReference(program, ["x": .random(.f32, [2, 6, 3, 5], seed: 7)])
    }

    @Test func inPlaceChainsShareOneBuffer() throws {
        var text = "graph @main(%x: f32[4,16,8,8]) {\n  %v0 = relu(%x) : f32[4,16,8,8]\n"
        for i in 1..<10 { text += "  %v\(i) = relu(%v\(i - 1)) : f32[4,16,8,8]\n" }
        text += "  %y = add(%v9, %v9) : f32[4,16,8,8]\n  return %y\n}\n"
        let graph = try Self.graph(text)
        let bytes = 4 * 16 * 8 * 8 * 4
        let inPlace = try CPUProgram(graph, providers: [BlockedRelu(preferred: .plain), ReferenceKernels()])
        #expect(try inPlace.arenaSize(for: [[4, 16, 8, 8]]) == bytes)
        try Self.expectSameAsReference(inPlace, ["x": .random(.f32, [4, 16, 8, 8], seed: 3)])

        // Without a faster provider every value is computed apart, yet only two are ever alive.
        let apart = try CPUProgram(graph, providers: [ReferenceKernels()])
        #expect(try apart.arenaSize(for: [[4, 16, 8, 8]]) == 2 * bytes)
        try Self.expectSameAsReference(apart, ["x": .random(.f32, [4, 16, 8, 8], seed: 4)])
    }

    /// An output listed twice is copied out of the arena after the last step, so no value computed
    /// after its last reader may take its bytes (here `%a`, as large as `%y` and alive only later).
    @Test func anOutputListedTwiceKeepsItsBytesToTheEnd() throws {
        let program = try CPUProgram(
            Self.graph("""
                graph @main(%x: f32[64]) {
                  %y = relu(%x) : f32[64]
                  %a = exp(%x) : f32[64]
                  %b = neg(%a) : f32[64]
                  return %y, %y, %b
                }
                """), providers: [ReferenceKernels()])
        #expect(try program.arenaSize(for: [[64]]) == 2 * 64 * 4)
        try Self.expectSameAsReference(program, ["x": .random(.f32, [64], seed: 5)])
    }

    @Test func valuesLeftBehindByTheOptimizerDoNotStopPlanning() throws {
        var graph = try Self.graph("""
            graph @main(%x: f32[batch,4]) {
              %dead = sigmoid(%x) : f32[batch,4]
              %y = relu(%x) : f32[batch,4]
              return %y
            }
            """)
        graph.nodes.removeAll { $0.op.name == "sigmoid" }  // %dead stays among the graph's values
        let program = try CPUProgram(graph, providers: [ReferenceKernels()])
        #expect(try program.arenaSize(for: [[3, 4]]) != nil)
        try Self.expectSameAsReference(program, ["x": .random(.f32, [3, 4], seed: 9)])
    }

    @Test func dataDependentShapesRunWithoutAPlan() throws {
        let program = try CPUProgram(
            Self.graph("""
                graph @main(%x: f32[n]) {
                  %z = constant f32[] [0.0]
                  %m = greater(%x, %z) : bool[n]
                  %i = non_zero(%m) : i64[1,?]
                  %f = flatten(%i) {axis = 0} : i64[1,?]
                  %g = gather(%x, %i) {axis = 0} : f32[1,?]
                  %y = relu(%g) : f32[1,?]
                  return %y
                }
                """), providers: [BlockedRelu(), ReferenceKernels()])
        for n in [7, 20] {
            #expect(try program.arenaSize(for: [[n]]) == nil)
            try Self.expectSameAsReference(program, ["x": .random(.f32, [n], seed: UInt64(n))])
        }
    }

    @Test func eightThreadsMatchSequentialRuns() throws {
        let program = try CPUProgram(
            Self.graph("""
                graph @main(%x: f32[batch,6,4,4]) {
                  %a = relu(%x) : f32[batch,6,4,4]
                  %b = sigmoid(%a) : f32[batch,6,4,4]
                  %c = mul(%b, %x) : f32[batch,6,4,4]
                  return %c
                }
                """), providers: [BlockedRelu(), ReferenceKernels()])
        let inputs = (0..<8).map { Tensor.random(.f32, [1 + $0 % 3, 6, 4, 4], seed: UInt64($0)) }
        let sequential = try inputs.map { try program.run(["x": $0])[0].tensor }
        let concurrent = ThreadResults<Tensor>(count: 8)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for _ in 0..<5 { concurrent.set(i, try? program.run(["x": inputs[i]])[0].tensor) }
        }
        for i in 0..<8 { #expect(concurrent.get(i) == sequential[i], "thread \(i)") }
    }

    @Test func wrongInputsAreRefusedByName() throws {
        let program = try CPUProgram(
            Self.graph("graph @main(%x: f32[batch,3]) {\n  %y = relu(%x) : f32[batch,3]\n  return %y\n}\n"),
            providers: [ReferenceKernels()])
        #expect(throws: EmberError.self) { try program.run(["x": .random(.f32, [2, 4])]) }
        #expect(throws: EmberError.self) { try program.run(["y": .random(.f32, [2, 3])]) }
        #expect(throws: EmberError.self) { try program.run(["x": .random(.f64, [2, 3])]) }
    }
}

/// oneDNN's binary kernels on broadcasts of many dims, which its reference kernel would take.
@Suite struct OneDNNBroadcastTests {
    @Test func manyDimensionalBroadcastsRunOnOptimizedKernelsAndMatch() throws {
        // Swin's shifted-window mask at batch 1: one mask per window, broadcast over the heads.
        // (With a batch and the heads both broadcast, oneDNN still has only its reference kernel.)
        let graph = try Graph(parsing: """
            graph @main(%x: f32[1,16,3,7,7], %m: f32[1,16,1,7,7]) {
              %y = add(%x, %m) : f32[1,16,3,7,7]
              return %y
            }
            """, registry: .standard)
        let inputs: [String: Tensor] = ["x": .random(.f32, [1, 16, 3, 7, 7], seed: 3), "m": .random(.f32, [1, 16, 1, 7, 7], seed: 4)]
        let program = try CPUProgram(graph, providers: CPUBackend.providers)
        let placed = try #require(try program.implementations(for: [[1, 16, 3, 7, 7], [1, 16, 1, 7, 7]]))
        #expect(placed.allSatisfy { !$0.node.isReference && $0.conversions.allSatisfy { !$0.isReference } },
                "\(placed.map { ($0.node.name, $0.conversions.map(\.name)) })")
        let expected = try ReferenceBackend().run(graph, inputs: inputs)[0].tensor
        let error = try #require(try program.run(inputs)[0].tensor.relativeError(to: expected))
        #expect(error <= 1e-6, "relative error \(error)")
    }

    /// A window-attention score with its relative-position bias, one per head broadcast over the
    /// windows: oneDNN's matmul takes that post-op only in its reference kernel, so the CPU backend
    /// takes the epilogue apart and runs the product and the add on optimized kernels.
    @Test func anEpilogueOnlyAReferenceKernelRunsIsTakenApart() throws {
        let graph = try Graph(parsing: """
            graph @main(%q: f32[w,3,7,8], %k: f32[w,3,8,7], %b: f32[1,3,7,7]) {
              %s = fused_epilogue(%q, %k, %b) {names = ["p"], steps = ["matmul($0, $1)", "add(%0, $2)"]} : f32[w,3,7,7]
              return %s
            }
            """, registry: .standard)
        let program = try CPUProgram(graph, providers: CPUBackend.providers)
        #expect(program.graph.nodes.map(\.op.name) == ["matmul", "add"])
        for windows in [1, 4] {
            let inputs: [String: Tensor] = [
                "q": .random(.f32, [windows, 3, 7, 8], seed: 1), "k": .random(.f32, [windows, 3, 8, 7], seed: 2),
                "b": .random(.f32, [1, 3, 7, 7], seed: 3),
            ]
            let placed = try #require(try program.implementations(for: [[windows, 3, 7, 8], [windows, 3, 8, 7], [1, 3, 7, 7]]))
            #expect(placed.allSatisfy { !$0.node.isReference }, "\(placed.map(\.node.name))")
            let expected = try ReferenceBackend().run(graph, inputs: inputs)[0].tensor
            let error = try #require(try program.run(inputs)[0].tensor.relativeError(to: expected))
            #expect(error <= 1e-6, "windows \(windows): relative error \(error)")
        }
    }

    /// A convolution's channel-blocked result times a plain tensor of its shape: the plain operand
    /// is reordered into the blocked layout, for oneDNN's fast binary kernel.
    @Test func aBinaryOpOfBlockedAndPlainOperandsRunsOptimized() throws {
        var builder = GraphBuilder()
        let x = builder.input("x", TensorType(.f32, ["batch", 8, 10, 10]))
        let y = builder.input("y", TensorType(.f32, ["batch", 16, 10, 10]))
        let weight = builder.constant(Tensor.random(.f32, [16, 8, 3, 3], in: -0.5...0.5, seed: 1), name: "w")
        let c = try builder.add(Conv(attributes: Attributes(op: "conv", [("pads", .ints([1, 1, 1, 1]))])), [x, weight])[0]
        let m = try builder.add(Mul(), [c, y])[0]
        let p = try builder.add(MaxPool(attributes: Attributes(op: "max_pool", [("kernel_shape", .ints([2, 2])), ("strides", .ints([2, 2]))])), [m])[0]
        builder.output(p)
        let graph = try builder.finish()
        let program = try CPUProgram(graph, providers: CPUBackend.providers)
        let placed = try #require(try program.implementations(for: [[2, 8, 10, 10], [2, 16, 10, 10]]))
        #expect(placed.allSatisfy { !$0.node.isReference }, "\(placed.map(\.node.name))")
        let inputs: [String: Tensor] = ["x": .random(.f32, [2, 8, 10, 10], seed: 2), "y": .random(.f32, [2, 16, 10, 10], seed: 3)]
        let expected = try ReferenceBackend().run(graph, inputs: inputs)[0].tensor
        let error = try #require(try program.run(inputs)[0].tensor.relativeError(to: expected))
        #expect(error <= 1e-5, "relative error \(error)")
    }

    @Test func collapsingKeepsWhereEachElementLies() {
        let (second, output) = BinaryBuilder.collapsed([1, 64, 1, 49, 49], [1, 64, 3, 49, 49])
        #expect(second == [64, 1, 2401] && output == [64, 3, 2401])
        #expect(BinaryBuilder.collapsed([1, 1], [1, 1]) == ([1], [1]))
        #expect(BinaryBuilder.collapsed([8, 1, 1], [8, 4, 5]) == ([8, 1], [8, 20]))
    }
}
