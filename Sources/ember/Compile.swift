import ArgumentParser
import EmberIR
import EmberRuntime
import Foundation

/// `ember compile MODEL -o ENGINE`: optimize a model and write the engine file.
struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Optimize a model for a backend and write the engine file that `ember run` loads.",
        discussion: """
            Shape profiles say which sizes of the model's symbolic dims (as `ember inspect MODEL` lists \
            them) the engine serves. `--profile` items together make one profile; each `--profile-set` \
            is one more:

              --profile s0=1:8:16 --profile s1=16:128:512                 (one profile)
              --profile-set s0=1:8:16,s1=16:128:256 --profile-set s1=257:512:512  (two)

            A run whose sizes fit no profile is refused unless `ember run` or `ember bench` is given \
            --allow-rebuild. Without profiles, an engine serves any shape its types allow.
            """)

    @Argument(help: "The model (.onnx, .pt2, or Ember text IR).")
    var model: String

    @Option(name: .shortAndLong, help: "The engine file to write (replaced atomically).")
    var output: String

    @OptionGroup var backend: BackendOptions

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var shapes: InputShapeOptions

    @OptionGroup var profiles: ProfileOptions

    func run() throws {
        try Ember.reportingErrors {
            let target = URL(fileURLWithPath: output)
            var isDirectory: ObjCBool = false
            if output.hasSuffix("/") || (FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) && isDirectory.boolValue) {
                throw EmberError(.invalidArgument, "-o names a directory ('\(output)'); name the engine file to write")
            }
            // Refused before the work, not after it: -o onto the model, a device or a FIFO.
            _ = try EngineFile.checkTarget(target, sparing: model)
            let profiles = try profiles.profiles()
            let fixed = try shapes.shapes()
            let file = try ModelFile.open(model)
            if case .engine = file {
                throw EmberError(.invalidArgument, "'\(model)' is already an engine")
            }
            let engine = try file.engine(backend, optimization: optimization, shapes: fixed, profiles: profiles)
            let notes = try EngineFile.write(engine, to: target, sparing: model)
            for note in notes { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
            let precision = engine.backend == .cuda ? ", \(engine.precision.rawValue)" : ""
            let count = engine.profiles.count
            let served = count == 0 ? "" : ", \(count) shape profile\(count == 1 ? "" : "s")"
            print("wrote \(output): \(engine.backend.rawValue) engine\(precision), \(engine.graph.nodes.count) nodes\(served)")
        }
    }
}
