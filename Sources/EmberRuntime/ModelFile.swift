import EmberIR
import EmberONNX
import EmberOps
import EmberTorch
import Foundation

/// A model file, recognized by its first bytes: an engine, an ONNX protobuf, a `torch.export.save`
/// archive (a zip: `.pt2`), or a graph in Ember's text IR (the form `ember inspect --print-ir`
/// writes). The command line and the C API both open models here.
///
///     let graph = try ModelFile.open("resnet50.onnx").graph()
public enum ModelFile {
    case engine(Engine)
    case onnx(ONNXModel)
    case torch(TorchProgram)
    case text(Graph)

    /// How many bytes are read to recognize a file: text IR may start with blank lines.
    static let prefixLength = 4096

    /// Opens and reads the model at `path` (a regular file; a FIFO or device is refused, not waited on).
    public static func open(_ path: String) throws -> ModelFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw EmberError(.io, "model file '\(path)' does not exist")
        }
        let file: SafeFile
        do {
            file = try SafeFile.open(path)
        } catch let error as EmberError {
            throw EmberError(.io, "cannot read model file: \(error.message)")
        }
        let url = URL(fileURLWithPath: path)
        let prefix = try file.prefix(prefixLength)
        switch Format(prefix) {
        case .engine:
            return .engine(try EngineFile.read(file, path: path))
        case .zip:
            return .torch(try TorchProgram(contentsOf: url))
        case .text:
            let text = String(decoding: try file.read(at: 0, count: file.size), as: UTF8.self)
            do {
                return .text(try Graph(parsing: text, registry: .standard))
            } catch let error as EmberError {
                throw error.located("'\(path)'")
            }
        case .onnx:
            return .onnx(try ONNXModel(file: file, url: url))
        }
    }

    /// What a file's first bytes say it is.
    enum Format: Equatable {
        case engine, zip, text, onnx

        init(_ prefix: Data) {
            if EngineFile.looksLikeEngine(prefix) {
                self = .engine
            } else if prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) || prefix.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
                // A zip's local file header, or the end record that is all an empty zip holds; an
                // ONNX protobuf never starts with either.
                self = .zip
            } else if String(decoding: prefix, as: UTF8.self).drop(while: { $0.isWhitespace }).hasPrefix("graph @") {
                self = .text
            } else {
                self = .onnx
            }
        }
    }

    /// The model's graph as imported (for an engine, its optimized graph).
    public func graph() throws -> Graph {
        switch self {
        case .engine(let engine): try engine.completeGraph()
        case .onnx(let model): try model.importGraph()
        case .torch(let program): try program.importGraph()
        case .text(let graph): graph
        }
    }
}
