import EmberIR
import EmberOps
import Testing

@testable import EmberPasses

/// Constants written out for the text IR.
private func constant(_ name: String, _ shape: [Int], seed: UInt64) -> String {
    let values = Tensor.random(.f32, shape, in: -0.5...0.5, seed: seed).floats().map { "\($0)" }.joined(separator: ", ")
    return "%\(name) = constant f32[\(shape.map(String.init).joined(separator: ","))] [\(values)]"
}

/// 1-D convolutions as 2-D ones, for backends whose convolutions take 2-D windows only.
@Suite struct ConvolutionAs2DTests {
    /// A strided, padded, dilated, grouped 1-D convolution with a bias, a residual add and a relu.
    func graph() throws -> Graph {
        try Graph(parsing: """
            graph @main(%x: f32[2,4,19], %r: f32[2,6,8]) {
              \(constant("w", [6, 2, 3], seed: 1))
              \(constant("b", [6], seed: 2))
              %y = conv(%x, %w, %b) {strides = [2], pads = [1, 0], dilations = [2], group = 2} : f32[?,?,?]
              %s = add(%y, %r) : f32[?,?,?]
              %z = relu(%s) : f32[?,?,?]
              return %z
            }
            """, registry: .standard)
    }

    @Test func aFusedOneDimensionalConvolutionBecomesATwoDimensionalOneWithTheSameOutputs() throws {
        var original = try graph()
        try PassManager([ShapePropagation()]).run(&original)
        var fused = original
        try PassManager([FuseEpilogues()]).run(&fused)
        #expect(fused.nodes.map(\.op.name) == ["fused_epilogue"])
        var lowered = fused
        var manager = PassManager([ConvolutionAs2D(), FuseElementwise(), DeadCodeElimination()])
        manager.verifyEachPass = true
        try manager.run(&lowered)
        #expect(lowered.nodes.map(\.op.name) == ["reshape", "conv", "reshape", "fused_elementwise"])
        let conv = try #require(lowered.nodes.first { $0.op is Conv })
        #expect(conv.inputs.compactMap { $0 }.map { lowered.type(of: $0).shape?.count } == [4, 4, 1])
        try expectSameOutputs(original, lowered)
    }

    @Test func twoDimensionalConvolutionsStay() throws {
        var graph = try Graph(parsing: """
            graph @main(%x: f32[1,2,5,5]) {
              \(constant("w", [3, 2, 3, 3], seed: 3))
              %y = conv(%x, %w) {pads = [1, 1, 1, 1]} : f32[?,?,?,?]
              return %y
            }
            """, registry: .standard)
        try PassManager([ShapePropagation()]).run(&graph)
        #expect(try !ConvolutionAs2D().run(&graph))
    }

    @Test func theWindowGainsAUnitAxisInFront() throws {
        let conv = try Conv(attributes: Attributes(op: Conv.name, [
            ("kernel_shape", .ints([3])), ("strides", .ints([2])), ("dilations", .ints([4])), ("pads", .ints([1, 2])),
        ]))
        let window = conv.window.prependingUnitAxes(1)
        #expect(window.kernelShape == [1, 3] && window.strides == [1, 2] && window.dilations == [1, 4])
        #expect(window.pads == [0, 1, 0, 2])
        #expect(try window.geometry(input: [1, 20], kernel: [1, 3], op: "conv").output
            == [1] + conv.window.geometry(input: [20], kernel: [3], op: "conv").output)
    }
}

/// Group and instance norms as row norms with a per-channel affine step.
@Suite struct ChannelNormsAsLayerNormTests {
    @Test(arguments: [
        ("instance_norm", "{epsilon = 1e-3}", [2, 6, 7]), ("instance_norm", "{epsilon = 1e-3}", [2, 6, 4, 5]),
        ("group_norm", "{epsilon = 1e-3, num_groups = 3}", [2, 6, 4, 5]), ("group_norm", "{num_groups = 2}", [3, 6]),
    ])
    func aNormBecomesALayerNormWithTheSameOutputs(op: String, attributes: String, shape: [Int]) throws {
        let dims = shape.map(String.init).joined(separator: ",")
        var original = try Graph(parsing: """
            graph @main(%x: f32[\(dims)]) {
              \(constant("s", [6], seed: 4))
              \(constant("b", [6], seed: 5))
              %y = \(op)(%x, %s, %b) \(attributes) : f32[\(dims)]
              return %y
            }
            """, registry: .standard)
        try PassManager([ShapePropagation()]).run(&original)
        var lowered = original
        var manager = PassManager([ChannelNormsAsLayerNorm(), FuseElementwise(), DeadCodeElimination()])
        manager.verifyEachPass = true
        try manager.run(&lowered)
        #expect(!lowered.nodes.contains { $0.op is InstanceNorm || $0.op is GroupNorm })
        #expect(lowered.nodes.contains { $0.op is LayerNorm })
        try expectSameOutputs(original, lowered)
    }
}

/// Cleanup runs shape inference and folding in rounds until they change nothing.
@Suite struct CleanupRoundsTests {
    /// A window partition as Swin exports it: the pad that rounds the height up to the window is
    /// computed from the input's shape, and the partition's reshape from the padded shape, so
    /// the reshape's shape is known only once the pad's is, a round later.
    let windows = """
        graph @main(%x: f32[1,6,6,4]) {
          %c1 = constant i64[] [1]
          %c4 = constant i64[] [4]
          %axes = constant i64[1] [0]
          %zeros = constant i64[5] [0, 0, 0, 0, 0]
          %zero = constant i64[2] [0, 0]
          %one = constant i64[1] [1]
          %four = constant i64[1] [4]
          %depth = constant i64[1] [24]
          %s = shape(%x) {start = 0} : i64[4]
          %h = gather(%s, %c1) {axis = 0} : i64[]
          %m = mod(%h, %c4) {fmod = 0} : i64[]
          %r = sub(%c4, %m) : i64[]
          %p = mod(%r, %c4) {fmod = 0} : i64[]
          %pu = unsqueeze(%p, %axes) : i64[1]
          %pads = concat(%zeros, %pu, %zero) {axis = 0} : i64[8]
          %y = pad(%x, %pads, _) {mode = "constant"} : f32[?,?,?,?]
          %s2 = shape(%y) {start = 0} : i64[4]
          %h2 = gather(%s2, %c1) {axis = 0} : i64[]
          %d = div(%h2, %c4) : i64[]
          %du = unsqueeze(%d, %axes) : i64[1]
          %target = concat(%one, %du, %four, %depth) {axis = 0} : i64[4]
          %w = reshape(%y, %target) {allowzero = 0} : f32[?,?,?,?]
          %z = relu(%w) : f32[?,?,?,?]
          return %z
        }
        """

    @Test func aShapeKnownOnlyAfterAnotherFoldsIsKnownAfterCleanup() throws {
        let original = try Graph(parsing: windows, registry: .standard)
        var graph = original
        var manager = PassManager(Pipeline.passes(.O1))
        manager.verifyEachPass = true
        let statistics = try manager.run(&graph)
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, known: [1, 2, 4, 24]))
        #expect(statistics.filter { $0.pass == ShapePropagation.name }.count >= 2)
        #expect(!graph.nodes.contains { $0.op.name == "shape" })
        try expectSameOutputs(original, graph)
    }

    @Test func everyPassOfARoundStillHasItsName() {
        let names = Set(Pipeline.all.map(\.name))
        #expect(names.isSuperset(of: [ShapePropagation.name, FoldShapeComputations.name, ConstantFolding.name, RemoveNoOps.name]))
        #expect(!names.contains(UntilUnchanged.name))
    }
}
