import ArgumentParser
import EmberIR
import EmberRuntime
import Foundation

/// `ember compile MODEL -o ENGINE`: optimize a model and write the engine file.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Optimize a model for a backend and write the engine file that `ember run` loads.")

    @Argument(help: "The model (.onnx, or Ember text IR).")
    var model: String

    @Option(name: .shortAndLong, help: "The engine file to write (replaced atomically).")
    var output: String

    @OptionGroup var backend: BackendOptions

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var shapes: InputShapeOptions

    func run() throws {
        try Ember.reportingErrors {
            let target = URL(fileURLWithPath: output)
            var isDirectory: ObjCBool = false
            if output.hasSuffix("/") || (FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) && isDirectory.boolValue) {
                throw EmberError(.invalidArgument, "-o names a directory ('\(output)'); name the engine file to write")
            }
            // Refused before the work, not after it: -o onto the model, a device or a FIFO.
            _ = try EngineFile.checkTarget(target, sparing: model)
            let fixed = try shapes.shapes()
            let file = try ModelFile.open(model)
            if case .engine = file {
                throw EmberError(.invalidArgument, "'\(model)' is already an engine")
            }
            let engine = try file.engine(backend, optimization: optimization, shapes: fixed)
            let notes = try EngineFile.write(engine, to: target, sparing: model)
            for note in notes { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
            let precision = engine.backend == .cuda ? ", \(engine.precision.rawValue)" : ""
            print("wrote \(output): \(engine.backend.rawValue) engine\(precision), \(engine.graph.nodes.count) nodes")
        }
    }
}
