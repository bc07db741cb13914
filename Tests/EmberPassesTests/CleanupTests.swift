import EmberIR
import EmberOps
import Testing

@testable import EmberPasses

@Suite struct SymbolicIntTests {
    let batch = SymbolicInt(.symbol("batch"))!
    let seq = SymbolicInt(.symbol("seq"))!

    @Test func productsDivideExactly() throws {
        let product = (SymbolicInt(12) * batch).flatMap { $0 * seq }
        let total = try #require(product)
        #expect(total.description == "12*batch*seq")
        let fourSeq = SymbolicInt(4) * seq
        let divisor = try #require(fourSeq)
        #expect(total / divisor == SymbolicInt(coefficient: 3, symbols: ["batch"]))
        #expect((total / SymbolicInt(5)) == nil)
        #expect((batch / seq) == nil)
        #expect((SymbolicInt(7) / SymbolicInt(-2))?.known == -3)
    }

    @Test func sumsOfLikeTerms() {
        #expect((batch + batch) == SymbolicInt(coefficient: 2, symbols: ["batch"]))
        #expect((batch - batch)?.known == 0)
        #expect((batch + SymbolicInt(0)) == batch)
        #expect((batch + seq) == nil)
        #expect((batch + SymbolicInt(1)) == nil)
    }

    @Test func comparisonsProvableFromDimsBeingNonNegative() {
        #expect(SymbolicInt.compare(batch, SymbolicInt(-1)) == 1)
        #expect(SymbolicInt.compare(SymbolicInt(-1), batch) == -1)
        #expect(SymbolicInt.compare(batch, batch) == 0)
        #expect(SymbolicInt.compare(batch, SymbolicInt(0)) == nil)
        #expect(SymbolicInt.compare(batch, seq) == nil)
    }

    @Test func dimsOnlyForNumbersAndLoneSymbols() {
        #expect(batch.dim == .symbol("batch"))
        #expect(SymbolicInt(5).dim == .known(5))
        #expect(((batch * seq)?.dim) == .unknown)
        #expect(SymbolicInt(coefficient: 2, symbols: ["batch"]).dim == .unknown)
    }
}

@Suite struct CleanupPipelineTests {
    let registry = OperatorRegistry.standard

    /// One attention head split and merge as the TorchScript exporter writes it, with a dynamic
    /// batch and sequence.
    let attention = """
        graph @main(%x: f32[batch,seq,32], %w: f32[32,32]) {
          %c0 = constant i64[] [0]
          %c1 = constant i64[] [1]
          %axes = constant i64[1] [0]
          %heads = constant i64[1] [4]
          %size = constant i64[1] [8]
          %width = constant i64[1] [32]
          %q = matmul(%x, %w) : f32[?,?,?]
          %s = shape(%q) {start = 0} : i64[3]
          %b = gather(%s, %c0) {axis = 0} : i64[]
          %n = gather(%s, %c1) {axis = 0} : i64[]
          %bu = unsqueeze(%b, %axes) : i64[1]
          %nu = unsqueeze(%n, %axes) : i64[1]
          %split = concat(%bu, %nu, %heads, %size) {axis = 0} : i64[4]
          %h = reshape(%q, %split) {allowzero = 0} : f32[?,?,?,?]
          %t = transpose(%h) {perm = [0, 2, 1, 3]} : f32[?,?,?,?]
          %u = transpose(%t) {perm = [0, 2, 1, 3]} : f32[?,?,?,?]
          %s2 = shape(%x) {start = 0} : i64[3]
          %b2 = gather(%s2, %c0) {axis = 0} : i64[]
          %n2 = gather(%s2, %c1) {axis = 0} : i64[]
          %b2u = unsqueeze(%b2, %axes) : i64[1]
          %n2u = unsqueeze(%n2, %axes) : i64[1]
          %merge = concat(%b2u, %n2u, %width) {axis = 0} : i64[3]
          %m = reshape(%u, %merge) {allowzero = 0} : f32[?,?,?]
          %y = add(%m, %x) : f32[?,?,?]
          return %y
        }
        """

    func optimized(_ text: String, _ level: OptimizationLevel) throws -> (Graph, Graph) {
        let original = try Graph(parsing: text, registry: registry)
        var graph = original
        var manager = PassManager(Pipeline.passes(level))
        manager.verifyEachPass = true
        try manager.run(&graph)
        return (original, graph)
    }

    @Test func attentionShapeComputationsFoldAway() throws {
        let (original, graph) = try optimized(attention, .O1)
        // The split and merge cancel once their targets are constants: only the matmul and add stay.
        #expect(graph.nodes.map(\.op.name) == ["matmul", "add"])
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, ["batch", "seq", 32]))
        try expectSameOutputs(original, graph)
    }

    @Test func oneCleanupRunReachesAFixedPoint() throws {
        let (_, once) = try optimized(attention, .O1)
        var again = once
        let statistics = try PassManager(Pipeline.passes(.O1)).run(&again)
        #expect(!statistics.contains { $0.changed })
        #expect(again.text == once.text)
    }

    @Test func madeUpSymbolsNeverReachTheGraph() throws {
        let text = """
            graph @main(%x: f32[?,?], %w: f32[?,8]) {
              %a = matmul(%x, %w) : f32[?,?]
              %b = relu(%a) : f32[?,?]
              return %b
            }
            """
        var graph = try Graph(parsing: text, registry: registry)
        #expect(try ShapePropagation().run(&graph))
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, [.unknown, 8]))
        #expect(!graph.text.contains(ShapeAnalysis.internalPrefix))
    }

    @Test func constantFoldingRespectsTheSizeCap() throws {
        let text = """
            graph @main(%x: f32[2,4]) {
              %one = constant f32[] [1.0]
              %shape = constant i64[2] [2, 4]
              %w = constant f32[4,2] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
              %big = expand(%one, %shape) : f32[2,4]
              %wt = transpose(%w) {perm = [1, 0]} : f32[2,4]
              %a = add(%x, %big) : f32[2,4]
              %y = mul(%a, %wt) : f32[2,4]
              return %y
            }
            """
        var graph = try Graph(parsing: text, registry: registry)
        // The transpose is no larger than its input and folds; the expand would grow 1 element to 8.
        #expect(try ConstantFolding(maxElements: 4).run(&graph))
        #expect(graph.nodes.map(\.op.name) == ["expand", "add", "mul"])
        var all = try Graph(parsing: text, registry: registry)
        #expect(try ConstantFolding().run(&all))
        #expect(all.nodes.map(\.op.name) == ["add", "mul"])
    }
}
