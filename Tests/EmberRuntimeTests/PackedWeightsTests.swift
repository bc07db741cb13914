import EmberCPU
import EmberIR
import EmberOps
import EmberReference
@testable import EmberRuntime
import EmberTestSupport
import Foundation
import Testing

/// Weights that oneDNN's kernels pack into copies of their own are held once: the CPU engine's graph
/// lets them go, and saving rebuilds them bit for bit from the packed copies.
@Suite(.enabled(if: OneDNN.status.isAvailable, "oneDNN is not available here: \(OneDNN.status)"))
struct PackedWeightsTests {
    /// conv (constant W) -> relu -> flatten -> matmul (constant B), then two products with a
    /// constant that an elementwise kernel also reads, so the graph keeps it.
    func graph() throws -> (Graph, conv: ValueID, linear: ValueID, shared: ValueID) {
        var b = GraphBuilder()
        let x = b.input("x", TensorType(.f32, ["batch", 3, 8, 8]))
        let w = b.constant(Tensor.random(.f32, [16, 3, 3, 3], seed: 1), name: "conv.w")
        let bias = b.constant(Tensor.random(.f32, [16], seed: 2), name: "conv.b")
        let fc = b.constant(Tensor.random(.f32, [1024, 10], seed: 3), name: "fc.w")
        let shared = b.constant(Tensor.random(.f32, [10, 10], seed: 4), name: "shared")
        let c = try b.add(Conv(attributes: Attributes(op: "conv", [("pads", .ints([1, 1, 1, 1]))])), [x, w, bias])[0]
        let r = try b.add(Relu(), [c])[0]
        let f = try b.add(Flatten(axis: 1), [r])[0]
        let y = try b.add(MatMul(), [f, fc])[0]
        let z = try b.add(MatMul(), [y, shared])[0]
        let square = try b.add(Mul(), [shared, shared])[0]
        let out = try b.add(MatMul(), [z, square], names: ["out"])[0]
        b.output(out)
        return (try b.finish(), w, fc, shared)
    }

    @Test func packedWeightsAreHeldOnceAndSavedWhole() throws {
        let (original, conv, linear, shared) = try graph()
        let engine = try Engine(graph: original, backend: .cpu)
        let owned = try #require(engine.program).kernelOwnedConstants
        #expect(owned.contains(conv) && owned.contains(linear), "\(owned)")
        #expect(!owned.contains(shared), "a constant an elementwise kernel reads stays in the graph")
        #expect(engine.graph.constants[conv] == nil && engine.graph.constants[linear] == nil)
        #expect(engine.graph.constants[shared] != nil)

        // Saving rebuilds every weight exactly; the loaded engine runs like the original graph.
        #expect(try engine.completeGraph().text == original.text)
        let loaded = try EngineFile.deserialize(try EngineFile.serialize(engine))
        #expect(try loaded.completeGraph().text == original.text)
        for batch in [1, 3] {
            let x = Tensor.random(.f32, [batch, 3, 8, 8], seed: UInt64(batch))
            let expected = try ReferenceBackend().run(original, inputs: ["x": x])[0].tensor
            for candidate in [engine, loaded] {
                let actual = try candidate.run(["x": x])[0].tensor
                #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-4, "batch \(batch)")
            }
        }
    }
}
