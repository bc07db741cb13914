import EmberIR
import EmberOps
import EmberReference
import EmberTestSupport
import Testing

@Suite struct FusedOpsTests {
    let registry = OperatorRegistry.standard

    /// Runs a graph on the reference backend with random inputs; returns the outputs' bytes.
    func outputs(_ graph: Graph, seed: UInt64 = 3) throws -> [[UInt8]] {
        var feeds: [String: Tensor] = [:]
        for (i, id) in graph.inputs.enumerated() {
            let type = graph.type(of: id)
            let shape = (type.shape ?? []).map { $0.value ?? 3 }
            feeds[graph.name(of: id)] = Tensor.random(type.dtype, shape, in: -3...3, seed: seed + UInt64(i))
        }
        return try ReferenceBackend().run(graph, inputs: feeds).map { $0.tensor.bytes() }
    }

    // MARK: Text form

    @Test func printsAndParsesBackIdentically() throws {
        let text = """
            graph @main(%x: f32[batch,4], %b: f32[4], %w: f32[4,4]) {
              %lo = constant f32[] [0.0]
              %e = fused_elementwise(%x, %b, %lo) {locs = ["Add", "", "Clip", ""], names = ["s", "t", "u"], s1.alpha = 0.2, s1.gamma = 1.5, s3.to = f16, steps = ["add($0, $1)", "selu(%0)", "clip(%1, $2, _)", "cast(%2)"]} : f16[batch,4]
              %m = fused_epilogue(%x, %w, %b) {names = ["p"], steps = ["matmul($0, $1)", "add(%0, $2)"]} : f32[batch,4] loc("MatMul")
              return %e, %m
            }

            """
        let graph = try Graph(parsing: text, registry: registry)
        #expect(graph.text == text)
        let fused = try #require(graph.nodes.first?.op as? FusedElementwise)
        #expect(fused.body.steps.map(\.op.name) == ["add", "selu", "clip", "cast"])
        #expect(fused.body.steps[2].operands == [.step(1), .input(2), nil])
        #expect(fused.body.steps.map(\.name) == ["s", "t", "u", ""])
        let epilogue = try #require(graph.nodes.last?.op as? FusedEpilogue)
        #expect(epilogue.anchor.name == "matmul")
    }

    @Test func stepsToleranceForSpaces() throws {
        let attrs = Attributes(op: "fused_elementwise", [("steps", .strings([" add( $0 ,$1 ) ", "relu(%0)"]))])
        let op = try FusedElementwise(attributes: attrs)
        #expect(op.attributes["steps"] == .strings(["add($0, $1)", "relu(%0)"]))
    }

    @Test(arguments: [
        (["add($0, $1)", "relu(%2)"], "not an earlier step"),
        (["add($0, $1)", "relu(%0)", "exp($0)"], "never used"),
        (["add($0, $2)"], "input 1 is never read"),
        (["add($0 $1)"], "is not of the form"),
        (["add[$0]"], "is not of the form"),
        (["add($0, #1)"], "is not of the form"),
        (["add($0, $9223372036854775807)"], "is not of the form"),
        (["relu($0, $1)"], "operands"),
        (["no_such_op($0)"], "unknown op"),
        (["reduce_sum($0)"], "not elementwise"),
        (["fused_elementwise($0)"], "steps"),
        ([String](), "at least one step"),
    ])
    func malformedBodiesAreRefused(_ steps: [String], _ message: String) {
        let attrs = Attributes(op: "fused_elementwise", [("steps", .strings(steps))])
        #expect {
            try registry.make("fused_elementwise", attrs)
        } throws: { error in
            "\(error)".contains("fused_elementwise") && "\(error)".contains(message)
        }
    }

    @Test func malformedAttributesAreRefused() {
        let cases: [([(String, Attribute)], String)] = [
            ([("steps", .strings(["relu($0)"])), ("s1.alpha", .float(1))], "belongs to step 1"),
            ([("steps", .strings(["relu($0)"])), ("s0.alpha", .float(1))], "alpha"),
            ([("steps", .strings(["relu($0)", "exp(%0)"])), ("names", .strings(["a", "b"]))], "names"),
            ([("steps", .strings(["relu($0)"])), ("locs", .strings(["a", "b"]))], "locs"),
            ([("steps", .strings(["relu($0)"])), ("other", .int(1))], "other"),
            ([("steps", .ints([1]))], "steps"),
        ]
        for (entries, message) in cases {
            #expect("\(message)") {
                try registry.make("fused_elementwise", Attributes(op: "fused_elementwise", entries))
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    @Test func epilogueNeedsAnAnchorReadingOnlyInputsAndElementwiseSteps() {
        let cases: [([String], String)] = [
            (["matmul($0, $1)"], "at least one epilogue step"),
            (["relu($0)", "matmul(%0, $1)"], "not elementwise"),
            (["matmul($0, $1)", "softmax(%0)"], "not elementwise"),
        ]
        for (steps, message) in cases {
            #expect("\(message)") {
                try registry.make("fused_epilogue", Attributes(op: "fused_epilogue", [("steps", .strings(steps))]))
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }

    // MARK: Inference

    @Test func infersThroughEveryStepKeepingSymbols() throws {
        let op = try registry.make(
            "fused_elementwise",
            Attributes(op: "fused_elementwise", [("steps", .strings(["add($0, $1)", "greater(%0, $2)"]))]))
        let types = try op.inferTypes(
            OpInputs(
                op.name,
                types: [
                    TensorType(.f32, ["batch", 1, 4]), TensorType(.f32, [3, 1]), TensorType(.f32, []),
                ]), outputCount: 1)
        #expect(types == [TensorType(.bool, ["batch", 3, 4])])
    }

    @Test func inferenceRefusesWrongInputsNamingTheStep() throws {
        let op = try registry.make(
            "fused_elementwise", Attributes(op: "fused_elementwise", [("steps", .strings(["add($0, $1)", "relu(%0)"]))]))
        #expect(throws: EmberError.self) {
            try op.inferTypes(OpInputs(op.name, types: [TensorType(.f32, [4])]), outputCount: 1)
        }
        #expect {
            try op.inferTypes(OpInputs(op.name, types: [TensorType(.f32, [4]), TensorType(.f32, [3])]), outputCount: 1)
        } throws: { error in
            "\(error)".contains("step 0")
        }
    }

    // MARK: Evaluation

    /// Each step rounds to its dtype as the separate op did: in f16 a fused chain that kept
    /// intermediates in higher precision would differ.
    @Test(arguments: [DType.f16, .bf16, .f32, .f64])
    func evaluatesBitIdenticallyToTheSeparateOps(_ dtype: DType) throws {
        let unfused = """
            graph @main(%x: \(dtype)[2,3,4], %b: \(dtype)[4], %r: \(dtype)[2,1,4]) {
              %third = constant \(dtype)[] [0.3333]
              %a = add(%x, %b) : \(dtype)[2,3,4]
              %m = mul(%a, %third) : \(dtype)[2,3,4]
              %s = sigmoid(%m) : \(dtype)[2,3,4]
              %g = mul(%m, %s) : \(dtype)[2,3,4]
              %e = exp(%g) : \(dtype)[2,3,4]
              %y = div(%e, %r) : \(dtype)[2,3,4]
              return %y
            }
            """
        let fused = """
            graph @main(%x: \(dtype)[2,3,4], %b: \(dtype)[4], %r: \(dtype)[2,1,4]) {
              %third = constant \(dtype)[] [0.3333]
              %y = fused_elementwise(%x, %b, %third, %r) {steps = ["add($0, $1)", "mul(%0, $2)", "sigmoid(%1)", "mul(%1, %2)", "exp(%3)", "div(%4, $3)"]} : \(dtype)[2,3,4]
              return %y
            }
            """
        let a = try outputs(Graph(parsing: unfused, registry: registry))
        let b = try outputs(Graph(parsing: fused, registry: registry))
        #expect(a == b)
    }

    @Test func epilogueEvaluatesBitIdenticallyToTheSeparateOps() throws {
        let unfused = """
            graph @main(%x: f16[1,2,5,5], %w: f16[3,2,3,3], %b: f16[3], %r: f16[1,3,5,5]) {
              %lo = constant f16[] [0.0]
              %hi = constant f16[] [6.0]
              %c = conv(%x, %w, %b) {pads = [1, 1, 1, 1]} : f16[1,3,5,5]
              %s = add(%c, %r) : f16[1,3,5,5]
              %y = clip(%s, %lo, %hi) : f16[1,3,5,5]
              return %y
            }
            """
        let fused = """
            graph @main(%x: f16[1,2,5,5], %w: f16[3,2,3,3], %b: f16[3], %r: f16[1,3,5,5]) {
              %lo = constant f16[] [0.0]
              %hi = constant f16[] [6.0]
              %y = fused_epilogue(%x, %w, %b, %r, %lo, %hi) {s0.pads = [1, 1, 1, 1], steps = ["conv($0, $1, $2)", "add(%0, $3)", "clip(%1, $4, $5)"]} : f16[1,3,5,5]
              return %y
            }
            """
        let a = try outputs(Graph(parsing: unfused, registry: registry))
        let b = try outputs(Graph(parsing: fused, registry: registry))
        #expect(a == b)
    }

    // MARK: Decomposition

    @Test func unfuseRestoresNamesLocationsAndAttributes() throws {
        let fused = """
            graph @main(%x: f32[batch,4], %b: f32[4]) {
              %y = fused_elementwise(%x, %b, %x) {locs = ["Add", "", "Mul"], names = ["s", "t"], s1.alpha = 0.2, steps = ["add($0, $1)", "leaky_relu(%0)", "mul(%1, $2)"]} : f32[batch,4] loc("Add")
              %z = fused_elementwise(%y) {steps = ["exp($0)", "neg(%0)"]} : f32[batch,4]
              return %z
            }
            """
        let expected = """
            graph @main(%x: f32[batch,4], %b: f32[4]) {
              %s = add(%x, %b) : f32[batch,4] loc("Add")
              %t = leaky_relu(%s) {alpha = 0.2} : f32[batch,4]
              %y = mul(%t, %x) : f32[batch,4] loc("Mul")
              %z.0 = exp(%y) : f32[batch,4]
              %z = neg(%z.0) : f32[batch,4]
              return %z
            }

            """
        var graph = try Graph(parsing: fused, registry: registry)
        let original = try outputs(graph)
        #expect(try FusedOps.unfuse(nodeAt: 1, in: &graph))
        #expect(try FusedOps.unfuse(nodeAt: 0, in: &graph))
        #expect(try !FusedOps.unfuse(nodeAt: 0, in: &graph))
        #expect(try !FusedOps.unfuse(nodeAt: 99, in: &graph))
        try graph.verify()
        #expect(graph.text == expected)
        #expect(try outputs(graph) == original)
    }
}
