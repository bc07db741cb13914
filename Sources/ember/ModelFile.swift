import EmberIR
import EmberONNX
import EmberOps
import EmberTorch
import Foundation

/// A model named on the command line, recognized by its contents: an ONNX protobuf, a
/// `torch.export.save` archive (a zip: `.pt2`), or a graph in Ember's text IR (the form
/// `ember inspect --print-ir` writes).
enum ModelFile {
    case onnx(ONNXModel)
    case torch(TorchProgram)
    case text(Graph)

    static func open(_ path: String) throws -> ModelFile {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EmberError(.io, "model file '\(path)' does not exist")
        }
        guard !isDirectory.boolValue else {
            throw EmberError(.io, "'\(path)' is a directory, not a model file")
        }
        if let text = try? String(contentsOf: url, encoding: .utf8),
            text.drop(while: { $0.isWhitespace }).hasPrefix("graph @")
        {
            do {
                return .text(try Graph(parsing: text, registry: .standard))
            } catch let error as EmberError {
                throw error.located("'\(path)'")
            }
        }
        if isZip(url) {
            return .torch(try TorchProgram(contentsOf: url))
        }
        return .onnx(try ONNXModel(contentsOf: url))
    }

    func graph() throws -> Graph {
        switch self {
        case .onnx(let model): try model.importGraph()
        case .torch(let program): try program.importGraph()
        case .text(let graph): graph
        }
    }

    /// Whether the file starts with a zip local file header (`PK\u{3}\u{4}`); an ONNX protobuf never does.
    static func isZip(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4)) ?? Data()
        return head == Data([0x50, 0x4B, 0x03, 0x04])
    }
}
