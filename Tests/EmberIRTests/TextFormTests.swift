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
