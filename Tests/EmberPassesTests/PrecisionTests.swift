import EmberIR
import EmberOps
import EmberReference
import Testing

@testable import EmberPasses

/// Specializing input shapes, and storing a graph's floats in f16 or bf16.
@Suite struct PrecisionAndSpecializationTests {
    let registry = OperatorRegistry.standard

    /// A transformer-ish block: a product, a mask built from an integer input, softmax, layer norm,
    /// and a cast to f32 the lowering must follow.
    let block = """
        graph @main(%x: f32[batch,16], %w: f32[16,16], %ids: i64[batch,16]) {
          %big = constant f32[] [-3.0e38]
          %zero = constant f32[] [0.0]
          %one = constant i64[] [1]
          %gamma = constant f32[16] [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2]
          %beta = constant f32[16] [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
          %p = matmul(%x, %w) : f32[batch,16]
          %keep = greater_or_equal(%ids, %one) : bool[batch,16]
          %mask = where(%keep, %zero, %big) : f32[batch,16]
          %scores = add(%p, %mask) : f32[batch,16]
          %s = softmax(%scores) {axis = -1} : f32[batch,16]
          %n = layer_norm(%p, %gamma, %beta) {axis = -1, epsilon = 1e-5} : f32[batch,16]
          %c = cast(%ids) {to = f32} : f32[batch,16]
          %y = add(%n, %c) : f32[batch,16]
          return %s, %y
        }
        """

    func feeds(_ graph: Graph, batch: Int) -> [String: Tensor] {
        [
            "x": Tensor.random(.f32, [batch, 16], in: -1...1, seed: 1),
            "w": Tensor.random(.f32, [16, 16], in: -0.5...0.5, seed: 2),
            "ids": Tensor.random(.i64, [batch, 16], in: 0...3, seed: 3),
        ]
    }

    @Test(arguments: [DType.f16, .bf16])
    func lowerPrecisionKeepsTheInterfaceAndAgreesWithF32(_ dtype: DType) throws {
        let original = try Graph(parsing: block, registry: registry)
        var lowered = original
        var manager = PassManager([try LowerPrecision(dtype)])
        manager.verifyEachPass = true
        try manager.run(&lowered)
        // Inputs and outputs keep their names and dtypes; everything stored between is narrower.
        #expect(lowered.inputs.map { lowered.name(of: $0) } == ["x", "w", "ids"])
        #expect(lowered.outputs.map { lowered.name(of: $0) } == ["s", "y"])
        #expect(lowered.outputs.allSatisfy { lowered.type(of: $0).dtype == .f32 })
        let stored = lowered.nodes.filter { !($0.op is Cast) }.flatMap(\.outputs).map { lowered.type(of: $0).dtype }
        #expect(!stored.contains(.f32), "f32 values left after lowering: \(lowered.text)")
        #expect(lowered.constants.values.allSatisfy { $0.dtype != .f32 })
        let inputs = feeds(original, batch: 4)
        let expected = try ReferenceBackend().run(original, inputs: inputs)
        let actual = try ReferenceBackend().run(lowered, inputs: inputs)
        for (a, e) in zip(actual, expected) {
            let error = a.tensor.relativeError(to: e.tensor) ?? .infinity
            #expect(error <= (dtype == .f16 ? 5e-3 : 3e-2), "output \(e.name): relative error \(error)")
            #expect(!a.tensor.doubles().contains { $0.isNaN }, "output \(e.name) has NaN: the mask must stay finite")
        }
    }

    @Test func onlyNarrowerFloatsAreTargets() {
        #expect(throws: EmberError.self) { _ = try LowerPrecision(.f32) }
        #expect(throws: EmberError.self) { _ = try LowerPrecision(.i8) }
    }

    @Test func specializingFixesEveryShapeAndFoldsShapeArithmetic() throws {
        let text = """
            graph @main(%x: f32[batch,seq,8]) {
              %c0 = constant i64[] [0]
              %axes = constant i64[1] [0]
              %minus = constant i64[1] [-1]
              %s = shape(%x) {start = 0} : i64[3]
              %b = gather(%s, %c0) {axis = 0} : i64[]
              %bu = unsqueeze(%b, %axes) : i64[1]
              %target = concat(%bu, %minus) {axis = 0} : i64[2]
              %y = reshape(%x, %target) {allowzero = 0} : f32[?,?]
              %z = relu(%y) : f32[?,?]
              return %z
            }
            """
        let original = try Graph(parsing: text, registry: registry)
        var graph = original
        try Pipeline.specialize(&graph, inputs: ["x": [3, 5, 8]])
        #expect(graph.nodes.map(\.op.name) == ["reshape", "relu"])
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, known: [3, 40]))
        let x = Tensor.random(.f32, [3, 5, 8], in: -1...1, seed: 4)
        let expected = try ReferenceBackend().run(original, inputs: ["x": x])
        let actual = try ReferenceBackend().run(graph, inputs: ["x": x])
        #expect(actual[0].tensor == expected[0].tensor)
    }

    @Test func specializingRefusesShapesThatDoNotFit() throws {
        var graph = try Graph(parsing: block, registry: registry)
        #expect(throws: EmberError.self) { try Pipeline.specialize(&graph, inputs: ["x": [2, 15]]) }
        #expect(throws: EmberError.self) { try Pipeline.specialize(&graph, inputs: ["x": [2]]) }
        #expect(throws: EmberError.self) { try Pipeline.specialize(&graph, inputs: ["nope": [2, 16]]) }
    }
}

/// Patch embeddings (convolutions tiling the image) as matrix products.
@Suite struct PatchConvolutionTests {
    func graph(pads: String) throws -> Graph {
        let w = Tensor.random(.f32, [5, 3, 4, 4], in: -0.5...0.5, seed: 1).floats().map { "\($0)" }.joined(separator: ", ")
        let b = Tensor.random(.f32, [5], in: -0.5...0.5, seed: 2).floats().map { "\($0)" }.joined(separator: ", ")
        return try Graph(parsing: """
            graph @main(%x: f32[2,3,8,12]) {
              %w = constant f32[5,3,4,4] [\(w)]
              %b = constant f32[5] [\(b)]
              %y = conv(%x, %w, %b) {kernel_shape = [4, 4], strides = [4, 4], pads = \(pads)} : f32[2,5,?,?]
              %z = relu(%y) : f32[2,5,?,?]
              return %z
            }
            """, registry: .standard)
    }

    @Test func tilingConvolutionBecomesAGemmWithTheSameOutputs() throws {
        var original = try graph(pads: "[0, 0, 0, 0]")
        try PassManager([ShapePropagation()]).run(&original)
        var lowered = original
        var manager = PassManager([PatchConvolutionAsMatmul(), DeadCodeElimination()])
        manager.verifyEachPass = true
        try manager.run(&lowered)
        #expect(lowered.nodes.map(\.op.name) == ["reshape", "transpose", "reshape", "gemm", "reshape", "transpose", "relu"])
        try expectSameOutputs(original, lowered)
    }

    @Test func paddedConvolutionsStay() throws {
        var graph = try graph(pads: "[1, 1, 1, 1]")
        try PassManager([ShapePropagation()]).run(&graph)
        #expect(try !PatchConvolutionAsMatmul().run(&graph))
    }
}
