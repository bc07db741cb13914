import EmberIR
@testable import EmberTorch
import EmberReference
import EmberTestSupport
import Foundation
import Testing
import ZIPFoundation

/// Small archives written here in torch.export.save's layout: `y = x + w` with a symbolic batch.
enum TorchTestArchives {
    static func zip(_ entries: [(String, Data)]) throws -> Data {
        let archive = try Archive(accessMode: .create)
        for (path, data) in entries {
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count)) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return archive.data ?? Data()
    }

    static func program(major: Int = 8, minor: Int = 20, weightSizes: Int = 4) -> String {
        """
        {"graph_module": {"graph": {
          "inputs": [{"as_tensor": {"name": "p_w"}}, {"as_tensor": {"name": "x"}}],
          "outputs": [{"as_tensor": {"name": "add"}}],
          "nodes": [{"target": "torch.ops.aten.add.Tensor",
                     "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
                                {"name": "other", "arg": {"as_tensor": {"name": "p_w"}}, "kind": 1}],
                     "outputs": [{"as_tensor": {"name": "add"}}], "metadata": {}, "name": "add"}],
          "tensor_values": {
            "x": {"dtype": 7, "sizes": [{"as_expr": {"expr_str": "Symbol('s77', positive=True, integer=True)"}}, {"as_int": 4}],
                  "strides": [{"as_int": 4}, {"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7},
            "p_w": {"dtype": 7, "sizes": [{"as_int": \(weightSizes)}], "strides": [{"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7},
            "add": {"dtype": 7, "sizes": [{"as_expr": {"expr_str": "Symbol('s77', positive=True, integer=True)"}}, {"as_int": 4}],
                    "strides": [{"as_int": 4}, {"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7}},
          "sym_int_values": {}, "sym_bool_values": {}},
         "signature": {"input_specs": [{"parameter": {"arg": {"name": "p_w"}, "parameter_name": "w"}},
                                       {"user_input": {"arg": {"as_tensor": {"name": "x"}}}}],
                       "output_specs": [{"user_output": {"arg": {"as_tensor": {"name": "add"}}}}]}},
         "opset_version": {"aten": 10}, "range_constraints": {"s77": {"min_val": 1, "max_val": 64}},
         "schema_version": {"major": \(major), "minor": \(minor)}, "torch_version": "2.15.0"}
        """
    }

    static func weightsConfig(sizes: Int = 4, path: String = "weight_0") -> String {
        """
        {"config": {"w": {"path_name": "\(path)", "is_param": true, "use_pickle": false,
          "tensor_meta": {"dtype": 7, "sizes": [{"as_int": \(sizes)}], "strides": [{"as_int": 1}],
                          "storage_offset": {"as_int": 0}, "layout": 7}}}}
        """
    }

    static let weight = Tensor(shape: [4], floats: [1, 2, 3, 4])

    static func archive(
        program: String = program(), weightsConfig: String = weightsConfig(), weightBytes: [UInt8]? = nil,
        extra: [(String, Data)] = []
    ) throws -> Data {
        try zip(
            [
                ("m/archive_format", Data("pt2".utf8)),
                ("m/archive_version", Data("0".utf8)),
                ("m/models/model.json", Data(program.utf8)),
                ("m/data/weights/model_weights_config.json", Data(weightsConfig.utf8)),
                ("m/data/weights/weight_0", Data(weightBytes ?? weight.bytes())),
                ("m/data/constants/model_constants_config.json", Data(#"{"config": {}}"#.utf8)),
            ] + extra)
    }
}

/// Suites that check which Ember error a damaged archive raises.
protocol CatchesEmberErrors {}

extension CatchesEmberErrors {
    /// The Ember error `body` throws; nil, and a recorded issue for any other error, otherwise.
    func error(_ body: () throws -> Void) -> EmberError? {
        do {
            try body()
            return nil
        } catch let e as EmberError {
            return e
        } catch {
            Issue.record("raised a non-Ember error: \(error)")
            return nil
        }
    }
}

@Suite struct TorchArchiveTests: CatchesEmberErrors {
    @Test func importsAndRunsWithSymbolicBatch() throws {
        let program = try TorchProgram(bytes: try TorchTestArchives.archive())
        #expect(program.schemaVersion == (8, 20))
        #expect(program.symbolRanges == [.init(symbol: "s77", min: 1, max: 64)])
        let graph = try program.importGraph()
        #expect(graph.type(of: graph.inputs[0]) == TensorType(.f32, ["s77", 4]))
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, ["s77", 4]))
        for batch in [1, 3] {
            let x = Tensor.random(.f32, [batch, 4], seed: UInt64(batch))
            let y = try ReferenceBackend().run(graph, inputs: ["x": x])[0].tensor
            let expected = x.floats().enumerated().map { i, v in v + Float(i % 4 + 1) }
            #expect(y == Tensor(shape: [batch, 4], floats: expected))
        }
    }

    @Test func refusesEntriesOutsideTheArchive() throws {
        for path in ["../evil", "m/../../evil", "/etc/passwd", "m\\..\\evil"] {
            let bytes = try TorchTestArchives.archive(extra: [(path, Data("x".utf8))])
            let e = error { _ = try TorchProgram(bytes: bytes) }
            #expect(e?.code == .invalidModel, "\(path)")
            #expect(e?.message.contains("outside the archive") == true, "\(path)")
        }
        let config = TorchTestArchives.weightsConfig(path: "../../weight_0")
        let e = error { _ = try TorchProgram(bytes: try TorchTestArchives.archive(weightsConfig: config)).importGraph() }
        #expect(e?.message.contains("outside the archive") == true)
    }

    @Test func checksDeclaredSizesAgainstStoredBytes() throws {
        // The metadata claims 2^40 floats; only 16 bytes are stored: refused before allocating.
        let huge = 1 << 40
        let bytes = try TorchTestArchives.archive(
            program: TorchTestArchives.program(weightSizes: huge), weightsConfig: TorchTestArchives.weightsConfig(sizes: huge))
        let e = error { _ = try TorchProgram(bytes: bytes).importGraph() }
        #expect(e?.code == .invalidModel)
        #expect(e?.message.contains("archive is damaged") == true)
        // Too few bytes for the declared 4 floats.
        let short = try TorchTestArchives.archive(weightBytes: [0, 0, 128, 63])
        #expect(error { _ = try TorchProgram(bytes: short).importGraph() }?.code == .invalidModel)
    }

    @Test func refusesSchemaVersionsOutsideTheSupportedRange() throws {
        for (major, minor) in [(7, 3), (8, 1), (9, 0), (8, 99)] {
            let bytes = try TorchTestArchives.archive(program: TorchTestArchives.program(major: major, minor: minor))
            let e = error { _ = try TorchProgram(bytes: bytes) }
            #expect(e?.code == .unsupported)
            #expect(e?.message.contains("8.2 through 8.20") == true, "\(e?.message ?? "")")
        }
    }

    @Test func refusesDamagedZips() throws {
        let good = try TorchTestArchives.archive()
        var rng = SystemRandomNumberGenerator()
        #expect(error { _ = try TorchProgram(bytes: Data()) } != nil)
        #expect(error { _ = try TorchProgram(bytes: Data("not a zip".utf8)) } != nil)
        for cut in stride(from: 0, to: good.count, by: max(good.count / 40, 1)) {
            _ = error { _ = try TorchProgram(bytes: good.prefix(cut)).importGraph() }
        }
        for _ in 0..<200 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = error { _ = try TorchProgram(bytes: bytes).importGraph() }
        }
    }

    @Test func listsEveryUnsupportedOpWithItsNodes() throws {
        let program = TorchTestArchives.program().replacingOccurrences(of: "aten.add.Tensor", with: "aten.frobnicate.default")
        let e = error { _ = try TorchProgram(bytes: try TorchTestArchives.archive(program: program)).importGraph() }
        #expect(e?.code == .unsupported)
        #expect(e?.message == "the program uses ATen ops Ember does not support: aten.frobnicate.default (add)")
    }

    @Test func readsSymbolicExpressions() {
        #expect(TorchSymbolic.dim("Symbol('s77', positive=True, integer=True)") == .symbol("s77"))
        #expect(TorchSymbolic.dim("Mul(Integer(12), Symbol('s77', positive=True, integer=True))") == .symbol("12*s77"))
        #expect(TorchSymbolic.dim("s0") == .symbol("s0"))
        #expect(TorchSymbolic.dim("7") == .known(7))
        #expect(TorchSymbolic.dim("Mul(Integer(2") == .unknown)
    }
}

/// Damaged zip directories: every record that says where entries are, overwritten with values
/// that point past the file or past `Int64.max`, must give an error, never a trap.
@Suite struct TorchZipDirectoryTests {
    /// A torch 2.15 archive, whose directory has zip64 records, and a small synthetic one.
    static let archives: [String] = ["torch-2.15/mlp.pt2", "synthetic"]

    @Test(arguments: archives) func damagedDirectoryRecordsAreRefused(_ name: String) throws {
        let original = name == "synthetic"
            ? [UInt8](try TorchTestArchives.archive())
            : [UInt8](try Data(contentsOf: TorchReleaseFixture.root.appendingPathComponent(name)))
        var rng = SeededRandom(seed: 11)
        let wild: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]
        // The central directory and end records sit in the archive's last few hundred bytes.
        let tail = min(original.count, 600)
        var refused = 0
        for trial in 0..<1500 {
            var bytes = original
            for _ in 0..<(1 + trial % 3) {
                let at = original.count - Int.random(in: 1...tail, using: &rng)
                let run = Int.random(in: 1...8, using: &rng)
                for k in 0..<run where at + k < bytes.count {
                    bytes[at + k] = trial % 2 == 0 ? wild[k] : UInt8.random(in: 0...255, using: &rng)
                }
            }
            do {
                _ = try TorchProgram(bytes: Data(bytes)).importGraph()
            } catch is EmberError {
                refused += 1
            }
        }
        #expect(refused > 100)
    }
}
