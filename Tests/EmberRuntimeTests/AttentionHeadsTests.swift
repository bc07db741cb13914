import EmberCPU
import EmberIR
import EmberOps
import EmberPasses
import EmberReference
import EmberTestSupport
import Testing

/// Eager BERT attention through the whole pipeline: recognized as one attention node, its head
/// split and merge folded into the 3-D form, and run by the CPU backend's own attention kernel,
/// which must agree with the reference on the unoptimized graph.
@Suite struct AttentionHeadsTests {
    /// 4 heads of 16: split by reshape and transpose, k^T by one transpose, scaled scores, an
    /// additive padding mask, softmax, the product with v, heads merged.
    let bert = """
        graph @main(%q: f32[batch,seq,64], %k: f32[batch,seq,64], %v: f32[batch,seq,64], %mask: f32[batch,1,1,seq]) {
          %split = constant i64[4] [0, 0, 4, 16]
          %merge = constant i64[3] [0, 0, 64]
          %scale = constant f32[] [0.25]
          %q4 = reshape(%q, %split) : f32[batch,seq,4,16]
          %qh = transpose(%q4) {perm = [0, 2, 1, 3]} : f32[batch,4,seq,16]
          %k4 = reshape(%k, %split) : f32[batch,seq,4,16]
          %kt = transpose(%k4) {perm = [0, 2, 3, 1]} : f32[batch,4,16,seq]
          %v4 = reshape(%v, %split) : f32[batch,seq,4,16]
          %vh = transpose(%v4) {perm = [0, 2, 1, 3]} : f32[batch,4,seq,16]
          %s = matmul(%qh, %kt) : f32[batch,4,seq,seq]
          %ss = mul(%s, %scale) : f32[batch,4,seq,seq]
          %sm = add(%ss, %mask) : f32[batch,4,seq,seq]
          %p = softmax(%sm) {axis = -1} : f32[batch,4,seq,seq]
          %o = matmul(%p, %vh) : f32[batch,4,seq,16]
          %ot = transpose(%o) {perm = [0, 2, 1, 3]} : f32[batch,seq,4,16]
          %y = reshape(%ot, %merge) : f32[batch,seq,64]
          return %y
        }
        """

    @Test func bertAttentionRunsAsOneThreeDimensionalNodeOnTheCPU() throws {
        let original = try Graph(parsing: bert, registry: .standard)
        var graph = original
        var manager = PassManager(Pipeline.passes(.O2))
        manager.verifyEachPass = true
        try manager.run(&graph)
        #expect(graph.nodes.count == 1, "\(graph.text)")
        let op = try #require(graph.nodes.first?.op as? Attention)
        #expect(op.qNumHeads == 4 && op.kvNumHeads == 4)

        let program = try CPUProgram(graph, providers: [EmberKernels(), ReferenceKernels()])
        #expect(program.steps.map(\.provider) == ["ember"])
        for (batch, seq) in [(1, 7), (3, 33)] {
            var mask = Tensor.random(.f32, [batch, 1, 1, seq], in: -1...0, seed: 4).floats()
            for j in (seq / 2)..<seq { mask[(batch - 1) * seq + j] = -.infinity }  // the last sequence padded
            let inputs: [String: Tensor] = [
                "q": .random(.f32, [batch, seq, 64], seed: 1), "k": .random(.f32, [batch, seq, 64], seed: 2),
                "v": .random(.f32, [batch, seq, 64], seed: 3), "mask": Tensor(shape: [batch, 1, 1, seq], floats: mask),
            ]
            let expected = try ReferenceBackend().run(original, inputs: inputs)
            let actual = try program.run(inputs)
            let error = try #require(actual[0].tensor.relativeError(to: expected[0].tensor))
            #expect(error <= 1e-4, "batch \(batch), seq \(seq): relative error \(error)")
        }
    }
}
