import EmberIR
import EmberONNX
import EmberOps
import Foundation

/// A model named on the command line, recognized by its contents: an ONNX protobuf, or a graph
/// in Ember's text IR (the form `ember inspect --print-ir` writes).
enum ModelFile {
    case onnx(ONNXModel)
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
        return .onnx(try ONNXModel(contentsOf: url))
    }

    func graph() throws -> Graph {
        switch self {
        case .onnx(let model): try model.importGraph()
        case .text(let graph): graph
        }
    }
}
