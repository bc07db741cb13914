import EmberIR
import EmberONNX
import EmberOps
import EmberPasses
import EmberRuntime
import EmberTorch
import Foundation

/// A model named on the command line, recognized by its contents: an engine, an ONNX protobuf,
/// a `torch.export.save` archive (a zip: `.pt2`), or a graph in Ember's text IR (the form
/// `ember inspect --print-ir` writes).
enum ModelFile {
    case engine(Engine)
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
        let prefix = ((try? FileHandle(forReadingFrom: url).read(upToCount: 16)) ?? nil) ?? Data()
        if EngineFile.looksLikeEngine(prefix) {
            return .engine(try EngineFile.read(from: url))
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
        // A zip's local file header; an ONNX protobuf never starts with it.
        if prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return .torch(try TorchProgram(contentsOf: url))
        }
        return .onnx(try ONNXModel(contentsOf: url))
    }

    /// The model's graph as imported (for an engine, its optimized graph).
    func graph() throws -> Graph {
        switch self {
        case .engine(let engine): try engine.completeGraph()
        case .onnx(let model): try model.importGraph()
        case .torch(let program): try program.importGraph()
        case .text(let graph): graph
        }
    }

    /// An engine ready to run: an engine file as it is, any other model optimized and built for `backend`.
    /// `shapes` fixes the named inputs' shapes first.
    func engine(_ backend: BackendOptions, optimization: OptimizationOptions, shapes: [String: [Int]] = [:]) throws -> Engine {
        if case .engine(let engine) = self { return engine }
        var graph = try graph()
        if !shapes.isEmpty { try Pipeline.specialize(&graph, inputs: shapes) }
        try optimization.optimize(&graph)
        try Engine.lower(&graph, to: backend.precision)
        return try Engine(
            graph: consume graph, backend: backend.backend.resolved, fallbackOps: backend.fallbackOps, precision: backend.precision)
    }
}
