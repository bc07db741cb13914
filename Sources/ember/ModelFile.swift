import EmberIR
import EmberONNX
import Foundation

/// A model named on the command line, recognized by its contents.
enum ModelFile {
    case onnx(ONNXModel)

    static func open(_ path: String) throws -> ModelFile {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EmberError(.io, "model file '\(path)' does not exist")
        }
        guard !isDirectory.boolValue else {
            throw EmberError(.io, "'\(path)' is a directory, not a model file")
        }
        return .onnx(try ONNXModel(contentsOf: url))
    }

    func graph() throws -> Graph {
        switch self {
        case .onnx(let model): try model.importGraph()
        }
    }
}
