import EmberIR
import EmberOps
import EmberPasses
import Testing

@Suite struct FusionTests {
    let registry = OperatorRegistry.standard

    /// A residual conv block, a transformer feed-forward and an inverted-residual tail, with values
    /// read twice, graph outputs inside chains, node names and integer shape arithmetic.
    let model = """
        graph @main(%x: f32[1,4,6,6], %w1: f32[4,4,3,3], %w2: f32[4,4,1,1], %t: f32[batch,seq,8], %w: f32[8,8], %n: i64[2]) {
          %b1 = constant f32[4] [0.1, -0.2, 0.3, -0.4]
          %b8 = constant f32[8] [0.1, 0.2, 0.3, 0.4, -0.1, -0.2, -0.3, -0.4]
          %half = constant f32[] [0.5]
          %root2 = constant f32[] [1.4142135]
          %one = constant f32[] [1.0]
          %six = constant f32[] [6.0]
          %zero = constant f32[] [0.0]
          %two = constant i64[] [2]
          %axes = constant i64[1] [-1]
          %c1 = conv(%x, %w1, %b1) {pads = [1, 1, 1, 1]} : f32[1,4,6,6] loc("conv1")
          %r1 = relu(%c1) : f32[1,4,6,6] loc("relu1")
          %c2 = conv(%r1, %w2) : f32[1,4,6,6] loc("conv2")
          %s2 = add(%c2, %x) : f32[1,4,6,6] loc("add2")
          %r2 = relu(%s2) : f32[1,4,6,6]
          %c3 = conv(%r2, %w2) : f32[1,4,6,6]
          %k3 = clip(%c3, %zero, %six) : f32[1,4,6,6]
          %m = matmul(%t, %w) : f32[batch,seq,8]
          %a = add(%m, %b8) : f32[batch,seq,8]
          %d = div(%a, %root2) : f32[batch,seq,8]
          %e = erf(%d) : f32[batch,seq,8]
          %p = add(%e, %one) : f32[batch,seq,8]
          %q = mul(%a, %p) : f32[batch,seq,8]
          %g = mul(%q, %half) : f32[batch,seq,8]
          %h = add(%g, %t) : f32[batch,seq,8]
          %u = sigmoid(%h) : f32[batch,seq,8]
          %v = mul(%h, %u) : f32[batch,seq,8]
          %mu = reduce_mean(%v, %axes) {keepdims = 1, noop_with_empty_axes = 0} : f32[batch,seq,1]
          %z = sub(%v, %mu) : f32[batch,seq,8]
          %z2 = mul(%z, %z) : f32[batch,seq,8]
          %i = mul(%n, %two) : i64[2]
          return %k3, %r2, %z2, %i
        }

        """

    func fuse(_ graph: inout Graph) throws {
        var manager = PassManager([FuseEpilogues(), FuseElementwise()])
        manager.verifyEachPass = true
        try manager.run(&graph)
    }

    @Test func fusingThenUnfusingGivesTheOriginalGraph() throws {
        var graph = try Graph(parsing: model, registry: registry)
        let original = graph.text
        try fuse(&graph)
        #expect(graph.opHistogram.map(\.op) == ["fused_elementwise", "fused_epilogue", "mul", "reduce_mean"])
        #expect(graph.nodes.count == 7)
        try expectSameOutputs(try Graph(parsing: model, registry: registry), graph)

        var unfused = graph
        #expect(try Unfuse().run(&unfused))
        try unfused.verify()
        #expect(unfused.text == original)

        var reparsed = try Graph(parsing: graph.text, registry: registry)
        #expect(try Unfuse().run(&reparsed))
        #expect(reparsed.text == original)
        #expect(try !Unfuse().run(&reparsed))
    }

    @Test func fusedGraphShowsWhatStaysMaterialized() throws {
        var graph = try Graph(parsing: model, registry: registry)
        try fuse(&graph)
        let text = graph.text
        // conv1 + relu1: %r1 feeds conv2 only, so it ends an epilogue.
        #expect(text.contains(#"%r1 = fused_epilogue(%x, %w1, %b1) {locs = ["conv1", "relu1"], names = ["c1"]"#))
        // %r2 is a graph output: the residual epilogue ends there, and conv3 + clip is its own.
        #expect(text.contains(#"%r2 = fused_epilogue(%r1, %w2, %x) {locs = ["conv2", "add2", ""], names = ["c2", "s2"]"#))
        #expect(text.contains(#"%k3 = fused_epilogue(%r2, %w2, %zero, %six)"#))
        // %a is read twice inside the GELU, %h twice inside the SiLU: both stay inside one node.
        #expect(text.contains(#"%v = fused_epilogue(%t, %w, %b8, %root2, %one, %half) {names = ["m", "a", "d", "e", "p", "q", "g", "h", "u"]"#))
        // %v is read by a reduction and by the chain after it, so it stays materialized.
        #expect(text.contains(#"%z2 = fused_elementwise(%v, %mu) {names = ["z"], steps = ["sub($0, $1)", "mul(%0, %0)"]}"#))
        // Integer arithmetic is left alone.
        #expect(text.contains("%i = mul(%n, %two) : i64[2]"))
    }

    @Test func fullPipelineAgreesWithTheUnoptimizedGraph() throws {
        let original = try Graph(parsing: model, registry: registry)
        var graph = original
        var manager = PassManager(Pipeline.passes(.O2))
        manager.verifyEachPass = true
        try manager.run(&graph)
        #expect(graph.nodes.count < original.nodes.count)
        try expectSameOutputs(original, graph)
    }

    /// SwiGLU's `silu(gate(x)) * up(x)`: each product gets a chain of steps off its own result
    /// (gate with the silu, up with the mul), not up with the silu of gate beside it.
    @Test func gatedProductsEachTakeTheirOwnChain() throws {
        let text = """
            graph @main(%x: f32[n,16], %wg: f32[16,32], %wu: f32[16,32]) {
              %g = matmul(%x, %wg) : f32[n,32]
              %u = matmul(%x, %wu) : f32[n,32]
              %s = silu(%g) : f32[n,32]
              %y = mul(%s, %u) : f32[n,32]
              return %y
            }
            """
        var graph = try Graph(parsing: text, registry: registry)
        try fuse(&graph)
        let fused = graph.nodes.compactMap { $0.op as? FusedEpilogue }
        #expect(fused.map { $0.body.steps.map(\.op.name) } == [["matmul", "silu"], ["matmul", "mul"]], "\(graph.text)")
        try expectSameOutputs(try Graph(parsing: text, registry: registry), graph)
    }

    /// A long chain and a wide fan-in: one node each, found in one sweep.
    @Test func longChainsFuseIntoOneNode() throws {
        var b = GraphBuilder()
        let x = b.input("x", TensorType(.f32, ["n", 16]))
        var v = x
        for i in 0..<2000 { v = try b.add(i % 2 == 0 ? Tanh() as any Operator : Neg(), [v])[0] }
        b.output(v)
        var graph = try b.finish()
        #expect(try FuseElementwise().run(&graph))
        #expect(graph.nodes.count == 1)
        #expect((graph.nodes[0].op as? FusedElementwise)?.body.steps.count == 2000)
        var unfused = graph
        #expect(try Unfuse().run(&unfused))
        #expect(unfused.text == (try b.finish()).text)
    }
}
