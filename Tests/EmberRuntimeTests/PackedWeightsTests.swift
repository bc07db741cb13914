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

    /// A CPU engine file stores the packed copies themselves: a loaded engine holds those weights
    /// only packed, its kernels read them from the mapped file, and saving it again gives the
    /// same bytes.
    @Test func engineFilesStoreWeightsPacked() throws {
        let (original, conv, linear, _) = try graph()
        let engine = try Engine(graph: original, backend: .cpu)
        let data = try EngineFile.serialize(engine)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-packed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.engine")
        try data.write(to: url)

        for loaded in [try EngineFile.deserialize(data), try EngineFile.read(from: url)] {
            let graph = loaded.graph
            #expect(Set(graph.heldConstants.map(graph.name(of:))) == ["conv.w", "fc.w"])
            #expect(graph.value(named: "shared").flatMap { graph.constants[$0] } != nil)
            let stored = try #require(engine.program).packedConstants
            let read = try #require(loaded.program).packedConstants
            for (id, name) in [(conv, "conv.w"), (linear, "fc.w")] {
                let before = try #require(stored[id]), after = try #require(graph.value(named: name).flatMap { read[$0] })
                #expect(Array(before.bytes) == Array(after.bytes) && before.format == after.format && before.plain == after.plain)
            }
            #expect(try loaded.completeGraph().text == original.text)
            #expect(try EngineFile.serialize(loaded) == data)
            for batch in [1, 2, 3] {
                let x = Tensor.random(.f32, [batch, 3, 8, 8], seed: UInt64(10 + batch))
                let expected = try ReferenceBackend().run(original, inputs: ["x": x])[0].tensor
                let actual = try loaded.run(["x": x])[0].tensor
                #expect((actual.relativeError(to: expected) ?? .infinity) <= 1e-4, "batch \(batch)")
            }
        }
    }

    /// Packed bytes with an owner are read where they are; without one they are copied.
    @Test func packedWeightsWithAnOwnerAreNotCopied() throws {
        let (original, conv, _, _) = try graph()
        let engine = try Engine(graph: original, backend: .cpu)
        let copies = try #require(engine.program).packedConstants
        let held = try #require(engine.program).completeGraph(holding: Set(copies.keys))
        let x = Tensor.random(.f32, [2, 3, 8, 8], seed: 4)
        let expected = try engine.run(["x": x])[0].tensor
        for borrowed in [true, false] {
            var packed = copies
            if !borrowed { for id in Array(packed.keys) { packed[id]?.owner = nil } }
            let program = try CPUProgram(held, providers: CPUBackend.providers, packed: packed)
            let read = try #require(program.packedConstants[conv])
            #expect((read.bytes.baseAddress == copies[conv]?.bytes.baseAddress) == borrowed)
            #expect(try program.run(["x": x])[0].tensor == expected)
        }
    }

    /// Damage anywhere in an engine with packed weights is refused, never a crash; so is a packed
    /// weight whose stored layout is not one oneDNN can read, even under a matching checksum.
    @Test func damagedPackedWeightsAreRefused() throws {
        let bytes = [UInt8](try EngineFile.serialize(try Engine(graph: try graph().0, backend: .cpu)))
        expectDamageRefused(bytes, seed: 7, truncations: 200, flips: 300)
        // The first packed layout's rank (its first base64 characters) made 0x60...: checksum redone.
        let header = String(decoding: bytes.prefix(4096), as: UTF8.self)
        let key = try #require(header.range(of: "\"format\":\""))
        var forged = bytes
        forged[header.utf8.distance(from: header.startIndex, to: key.upperBound)] = UInt8(ascii: "Y")
        let end = forged.count - 12
        let checksum = forged.withUnsafeBytes { Checksum.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
        for k in 0..<8 { forged[end + k] = UInt8(truncatingIfNeeded: checksum >> (8 * k)) }
        #expect { try EngineFile.deserialize(Data(forged)) } throws: { "\($0)".contains("packed weight") }
    }
}
