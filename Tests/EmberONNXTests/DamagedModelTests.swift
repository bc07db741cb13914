import EmberIR
@testable import EmberONNX
import EmberReference
import EmberTestSupport
import Foundation
import Testing

/// Damaged model files: the only acceptable outcome is a thrown `EmberError` (or, where the damage
/// happens to leave a valid model, a normal run). A crash fails the whole test process.
@Suite struct DamagedModelTests {
    func attempt(_ bytes: Data) -> Bool {
        do {
            let graph = try ONNXModel(bytes: bytes, directory: nil).importGraph()
            let feeds = Dictionary(uniqueKeysWithValues: graph.inputs.map { id -> (String, Tensor) in
                let type = graph.type(of: id)
                let shape = (type.shape ?? []).map { $0.value ?? 2 }
                return (graph.name(of: id), Tensor.random(type.dtype, shape))
            })
            _ = try ReferenceBackend().run(graph, inputs: feeds)
            return true
        } catch is EmberError {
            return false
        } catch {
            Issue.record("a damaged model raised a non-Ember error: \(error)")
            return false
        }
    }

    @Test func truncatedModelsAreRefused() throws {
        let bytes = try ONNXTestModels.small.serializedData()
        var refused = 0
        for length in 0..<bytes.count where !attempt(bytes.prefix(length)) { refused += 1 }
        #expect(refused > bytes.count / 2)
    }

    @Test func flippedAndInsertedBytesNeverCrash() throws {
        let bytes = [UInt8](try ONNXTestModels.small.serializedData())
        var rng = SeededRandom(seed: 42)
        for _ in 0..<3000 {
            var mutated = bytes
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<mutated.count, using: &rng)
                    mutated[i] ^= UInt8.random(in: 1...255, using: &rng)
                }
            case 1:
                let i = Int.random(in: 0..<mutated.count, using: &rng)
                mutated[i] = [0x00, 0xFF, 0x7F, 0x80][Int.random(in: 0..<4, using: &rng)]
            default:
                let i = Int.random(in: 0...mutated.count, using: &rng)
                mutated.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            }
            _ = attempt(Data(mutated))
        }
    }
}
