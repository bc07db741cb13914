import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct TextFormTests {
    let registry = OperatorRegistry.standard

    @Test func printsAndParsesBackIdentically() throws {
        let text = """
            graph @main(%x: f32[batch,4], %"odd name": f32[4]) {
              %w = constant f32[4] [1.0, -2.5, nan, inf]
              %big = constant i64[20] 0x\(String(repeating: "0100000000000000", count: 20))
              %0 = add(%x, %w) : f32[batch,4] loc("Add_0")
              %1 = leaky_relu(%0) {alpha = 0.2} : f32[batch,4]
              %y = mul(%1, %"odd name") : f32[batch,4]
              return %y
            }

            """
        let graph = try Graph(parsing: text, registry: registry)
        #expect(graph.text == text)
        #expect(try Graph(parsing: graph.text, registry: registry).text == text)
    }

    /// A constant a backend holds (packed weights) keeps its type but not its elements: `@held`
    /// in text, or a blob the loader leaves to the backend.
    @Test func heldConstantsKeepTheirTypes() throws {
        let text = """
            graph @main(%x: f32[2,4]) {
              %w = constant f32[4,3] @held
              %y = matmul(%x, %w) : f32[2,3]
              return %y
            }

            """
        let graph = try Graph(parsing: text, registry: registry)
        let w = try #require(graph.value(named: "w"))
        #expect(graph.heldConstants == [w] && graph.constants[w] == nil)
        #expect(graph.type(of: w) == TensorType(.f32, known: [4, 3]))
        #expect(graph.text == text)
        let stored = graph.text(storingConstant: { _ in 0 }, storingHeld: { _ in 128 })
        #expect(stored.contains("%w = constant f32[4,3] @blob(128)"))
        var offsets: [Int] = []
        let loaded = try Graph(parsing: stored, registry: registry) { _, _, offset in
            offsets.append(offset)
            return nil
        }
        #expect(offsets == [128] && loaded.text == text)
        #expect(throws: EmberError.self) {
            try Graph(parsing: text.replacingOccurrences(of: "@held", with: "@blob(0)"), registry: registry)
        }
    }

    @Test func reportsUndefinedValuesWithLocation() throws {
        let text = """
            graph @main(%x: f32[4]) {
              %y = relu(%z) : f32[4]
              return %y
            }
            """
        #expect {
            try Graph(parsing: text, registry: registry)
        } throws: { error in
            "\(error)".contains("line 2") && "\(error)".contains("%z")
        }
    }

    @Test func rejectsDeclaredTypeThatInferenceContradicts() throws {
        let text = """
            graph @main(%x: f32[4]) {
              %y = relu(%x) : f32[5]
              return %y
            }
            """
        #expect(throws: EmberError.self) { try Graph(parsing: text, registry: registry) }
    }
}
