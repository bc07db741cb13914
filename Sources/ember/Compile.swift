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

    @Option(name: .long, help: "The backend the engine is built for; auto picks the best one this machine has.")
    var backend: BackendChoice = .auto

    @OptionGroup var optimization: OptimizationOptions

    func run() throws {
        try Ember.reportingErrors {
            let file = try ModelFile.open(model)
            if case .engine = file {
                throw EmberError(.invalidArgument, "'\(model)' is already an engine")
            }
            let engine = try file.engine(backend: backend.resolved, optimization: optimization)
            try EngineFile.write(engine, to: URL(fileURLWithPath: output))
            print("wrote \(output): \(engine.backend.rawValue) engine, \(engine.graph.nodes.count) nodes")
        }
    }
}

/// A backend named on the command line: a concrete one, or `auto` for the best available here.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, reference

    var resolved: Engine.Backend {
        switch self {
        case .auto, .reference: .reference
        }
    }
}
