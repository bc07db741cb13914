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
            let file = try ModelFile.open(model)
            if case .engine = file {
                throw EmberError(.invalidArgument, "'\(model)' is already an engine")
            }
            let engine = try file.engine(backend, optimization: optimization, shapes: try shapes.shapes())
            try EngineFile.write(engine, to: URL(fileURLWithPath: output))
            let precision = engine.backend == .cuda ? ", \(engine.precision.rawValue)" : ""
            print("wrote \(output): \(engine.backend.rawValue) engine\(precision), \(engine.graph.nodes.count) nodes")
        }
    }
}
