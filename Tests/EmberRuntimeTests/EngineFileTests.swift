import EmberIR
import EmberOps
@testable import EmberRuntime
import EmberTestSupport
import Foundation
import Testing

@Suite struct EngineFileTests {
    /// A small graph with a large constant (stored in the weights) and a small one (inline).
    func engine() throws -> Engine {
        var b = GraphBuilder()
        let x = b.input("x", TensorType(.f32, ["batch", 64]))
        let w = b.constant(Tensor.random(.f32, [64], seed: 3), name: "w")
        let s = b.constant(Tensor(shape: [1], floats: [0.5]), name: "s")
        let y = try b.add(Mul(), [x, w])[0]
        let z = try b.add(Add(), [y, s], names: ["z"])[0]
        b.output(z)
        return try Engine(graph: try b.finish(), backend: .reference)
    }

    @Test func roundTripsAndRunsTheSame() throws {
        let original = try engine()
        let data = try EngineFile.serialize(original)
        let loaded = try EngineFile.deserialize(data)
        #expect(loaded.graph.text == original.graph.text)
        let x = Tensor.random(.f32, [3, 64], seed: 9)
        #expect(try loaded.run(["x": x])[0].tensor == original.run(["x": x])[0].tensor)
    }

    @Test func writesAtomicallyAndKeepsTheOldFileOnFailure() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-engine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.engine")
        try EngineFile.write(try engine(), to: url)
        try EngineFile.write(try engine(), to: url)
        #expect(try EngineFile.read(from: url).graph.text == engine().graph.text)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.engine"])
        #expect(throws: EmberError.self) {
            try EngineFile.write(try engine(), to: dir.appendingPathComponent("missing/model.engine"))
        }
    }

    @Test func damagedEnginesAreRefusedNeverCrash() throws {
        expectDamageRefused([UInt8](try EngineFile.serialize(try engine())), seed: 5, truncations: 300, flips: 500)
    }

    @Test func namesWhatDoesNotMatch() throws {
        var bytes = [UInt8](try EngineFile.serialize(try engine()))
        bytes[8] = 99
        #expect { try EngineFile.deserialize(Data(bytes)) } throws: { "\($0)".contains("format version 99") }
        #expect { try EngineFile.deserialize(Data("not an engine at all".utf8)) } throws: { "\($0)".contains("magic") }
    }
}

/// Expects every damaged copy of the engine `bytes` to be refused with an error: `truncations`
/// prefixes spread over its length, and `flips` copies with one random byte changed.
func expectDamageRefused(_ bytes: [UInt8], seed: UInt64, truncations: Int, flips: Int) {
    var rng = SeededRandom(seed: seed)
    for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / truncations)) {
        #expect(throws: EmberError.self) { try EngineFile.deserialize(Data(bytes.prefix(length))) }
    }
    for _ in 0..<flips {
        var damaged = bytes
        let i = Int.random(in: 0..<damaged.count, using: &rng)
        damaged[i] ^= UInt8.random(in: 1...255, using: &rng)
        #expect(throws: EmberError.self) { try EngineFile.deserialize(Data(damaged)) }
    }
}
