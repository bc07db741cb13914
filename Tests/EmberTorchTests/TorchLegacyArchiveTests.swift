import EmberIR
@testable import EmberTorch
import Foundation
import Testing
import ZIPFoundation

/// The archive layout of torch 2.6 and 2.7 (pickled weights in nested torch.save archives), and
/// the restricted pickle reader behind it, on damaged and doctored input.
@Suite struct TorchLegacyArchiveTests: CatchesEmberErrors {
    /// A torch 2.6 archive from the fixtures, as its entries.
    static func entries(_ release: String = "2.6", model: String = "mlp") throws -> [(String, Data)] {
        let url = TorchReleaseFixture.root.appendingPathComponent("torch-\(release)/\(model).pt2")
        let archive = try Archive(url: url, accessMode: .read)
        return try archive.map { entry in
            var data = Data()
            _ = try archive.extract(entry) { data.append($0) }
            return (entry.path, data)
        }
    }

    /// The archive with one entry's bytes changed.
    static func doctored(_ path: String, in entries: [(String, Data)], _ change: (Data) -> Data) throws -> Data {
        try TorchTestArchives.zip(entries.map { $0.0 == path ? ($0.0, change($0.1)) : $0 })
    }

    @Test func refusesSchemaVersionsOutsideTheSupportedRange() throws {
        let entries = try Self.entries()
        for version in ["7, \"minor\": 3", "8, \"minor\": 1", "8, \"minor\": 99", "9, \"minor\": 0"] {
            let bytes = try Self.doctored(TorchProgram.legacyProgramPath, in: entries) { json in
                Data(String(decoding: json, as: UTF8.self)
                    .replacingOccurrences(of: "\"schema_version\": {\"major\": 8, \"minor\": 2}", with: "\"schema_version\": {\"major\": \(version)}").utf8)
            }
            let e = error { _ = try TorchProgram(bytes: bytes) }
            #expect(e?.code == .unsupported, "\(version)")
            #expect(e?.message.contains("8.2 through 8.20 (torch 2.6 through 2.15)") == true, "\(e?.message ?? "no error")")
        }
        // The untouched archive is read: the doctoring is what fails.
        _ = try TorchProgram(bytes: try TorchTestArchives.zip(entries)).importGraph()
    }

    @Test func refusesPicklesThatCallAnythingButTensorRebuilds() throws {
        // `os.system('true')`, the classic hostile pickle.
        let hostile: [UInt8] = [0x80, 0x02, 0x63] + Array("os\nsystem\n".utf8) + [0x58, 4, 0, 0, 0] + Array("true".utf8)
            + [0x85, 0x52, 0x2E]
        let e = error { _ = try TorchPickle.load(hostile, origin: "evil.pkl") }
        #expect(e?.code == .invalidModel)
        #expect(e?.message.contains("'os.system'") == true, "\(e?.message ?? "no error")")
        // A string declaring 2^32-1 bytes with none behind it: refused before reading.
        let long: [UInt8] = [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]
        #expect(error { _ = try TorchPickle.load(long, origin: "long.pkl") }?.message.contains("remain") == true)
        // Tuples nested a million deep would be freed recursively: refused at the limit.
        let nested: [UInt8] = [0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        #expect(error { _ = try TorchPickle.load(nested, origin: "deep.pkl") }?.message.contains("nest deeper") == true)
        // A flat dictionary of 500 entries added one SETITEM at a time (and a list built by APPEND)
        // nests one level, not 500.
        var flat: [UInt8] = [0x80, 0x02, 0x7D]
        for i in 0..<500 { flat += [0x4D, UInt8(i & 0xFF), UInt8(i >> 8), 0x5D, 0x4E, 0x61, 0x73] }
        flat += [0x2E]
        let loaded = try TorchPickle.load(flat, origin: "flat.pkl")
        if case .dict(let pairs) = loaded { #expect(pairs.count == 500) } else { Issue.record("not a dict: \(loaded)") }
        // Unknown opcodes, empty stacks, missing marks and memo entries.
        for bad: [UInt8] in [[0x80, 0x02, 0xFF], [0x2E], [0x74, 0x2E], [0x68, 0x07, 0x2E], [0x80, 0x02, 0x4B]] {
            #expect(error { _ = try TorchPickle.load(bad, origin: "bad.pkl") }?.code == .invalidModel, "\(bad)")
        }
    }

    @Test func readsTheStateDictionaryPickle() throws {
        let entries = try Self.entries()
        let saved = try TorchArchive(bytes: try #require(entries.first { $0.0 == "serialized_state_dict.pt" }?.1))
        guard case .dict(let pairs) = try TorchPickle.load([UInt8](try saved.read("data.pkl")), origin: "data.pkl") else {
            Issue.record("the state dict is not a dictionary")
            return
        }
        let names = pairs.compactMap { if case .string(let s) = $0.0 { s } else { nil } }
        #expect(names == ["fc1.weight", "fc1.bias", "norm.weight", "norm.bias", "fc2.weight", "fc2.bias", "out.weight", "out.bias"])
        guard case .tensor(let weight) = try #require(pairs.first?.1) else {
            Issue.record("fc1.weight is not a tensor")
            return
        }
        #expect(weight.sizes == [16, 8] && weight.strides == [8, 1] && weight.offset == 0)
        #expect(weight.storage.dtype == .f32 && weight.storage.count == 128)
    }

    /// Damages the program's JSON, and the state dict's pickle inside its nested archive (the
    /// nested zip itself is rebuilt intact: damaged zip structure is `refusesDamagedZips`' concern).
    @Test func refusesDamagedProgramsAndPickles() throws {
        let entries = try Self.entries()
        let saved = try TorchArchive(bytes: try #require(entries.first { $0.0 == "serialized_state_dict.pt" }?.1))
        let savedEntries = try saved.paths.map { ("archive/" + $0, try saved.read($0)) }
        var rng = SystemRandomNumberGenerator()
        func damage(_ data: Data, _ trial: Int) -> Data {
            var data = data
            if trial % 4 == 0 { return data.prefix(Int.random(in: 0..<data.count, using: &rng)) }
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                data[Int.random(in: 0..<data.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            return data
        }
        for trial in 0..<240 {
            let bytes: Data
            if trial % 2 == 0 {
                bytes = try Self.doctored(TorchProgram.legacyProgramPath, in: entries) { damage($0, trial / 2) }
            } else {
                let pickle = try Self.doctored("archive/data.pkl", in: savedEntries) { damage($0, trial / 2) }
                bytes = try Self.doctored("serialized_state_dict.pt", in: entries) { _ in pickle }
            }
            _ = error { _ = try TorchProgram(bytes: bytes).importGraph() }
        }
    }

    @Test func damagedPicklesGiveErrorsNotCrashes() throws {
        let entries = try Self.entries()
        let saved = try TorchArchive(bytes: try #require(entries.first { $0.0 == "serialized_state_dict.pt" }?.1))
        let good = [UInt8](try saved.read("data.pkl"))
        var rng = SystemRandomNumberGenerator()
        var failures = 0
        for trial in 0..<2000 {
            var bytes = good
            if trial % 5 == 0 {
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            } else {
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            if error({ _ = try TorchPickle.load(bytes, origin: "data.pkl") }) != nil { failures += 1 }
        }
        #expect(failures > 0)
    }

    @Test func quotesPythonsNonFiniteNumbersOutsideStrings() throws {
        let json = #"{"a": -Infinity, "b": [NaN, Infinity, 1.5], "c": "NaN -Infinity \" Infinity"}"#
        let quoted = String(decoding: TorchArchive.quotingNonFiniteNumbers(Data(json.utf8)), as: UTF8.self)
        #expect(quoted == #"{"a": "-inf", "b": ["nan", "inf", 1.5], "c": "NaN -Infinity \" Infinity"}"#)
    }
}
