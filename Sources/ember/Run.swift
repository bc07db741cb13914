import ArgumentParser
import EmberIR
import EmberRuntime
import Foundation

/// `ember run MODEL --input NAME=FILE.npy ... --output-dir DIR`: one `OUTPUT_NAME.npy` per output.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on inputs from .npy files and write each output as OUTPUT_NAME.npy.")

    @Argument(help: "The model (.onnx, .pt2 from torch.export.save, Ember text IR, or an engine file).")
    var model: String

    @OptionGroup var backend: BackendOptions

    @Option(
        name: .long, parsing: .singleValue,
        help: "An input as NAME=FILE.npy; NAME may be left out when the model has one input.")
    var input: [String] = []

    @Option(name: .long, help: "Where the outputs are written (created if missing).")
    var outputDir: String = "."

    @Flag(name: .long, help: "Print how long importing and running took.")
    var time = false

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var rebuild: RebuildOptions

    func run() throws {
        try Ember.reportingErrors {
            // The output directory and the output file names are checked before anything runs; the
            // directory is created only once there are outputs to put in it.
            let directory = try Run.prepareOutputDirectory(outputDir, create: false)
            let clock = ContinuousClock()
            let start = clock.now
            // The inputs are named and read against the imported model, before the compile.
            var feeds: [String: Tensor] = [:]
            var engine = try ModelFile.open(model).engine(backend, optimization: optimization) { feeds = try readInputs(for: $0) }
            engine.allowsRebuild = rebuild.allowRebuild
            let imported = clock.now
            try Run.checkFileNames(engine.outputs.map(\.name))
            let ran = clock.now
            let outputs = try engine.run(feeds)
            _ = try Run.prepareOutputDirectory(outputDir, create: true)
            if time {
                let ms = { (d: Duration) in String(format: "%.2f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1e3) }
                print("time: load and optimize \(ms(imported - start)) ms, run \(ms(clock.now - ran)) ms (\(engine.backend.rawValue) backend)")
            }
            for (name, tensor) in outputs {
                let file = directory.appendingPathComponent(Run.fileName(for: name))
                do {
                    try tensor.npyData().write(to: file, options: .atomic)
                } catch {
                    throw EmberError(.io, "cannot write output '\(name)' to '\(file.path)'")
                }
                print("\(name): \(tensor.type) -> \(file.path)")
            }
        }
    }

    /// Inputs by name; a bare `FILE.npy` names the model's only input.
    func readInputs(for graph: Graph) throws -> [String: Tensor] {
        let names = graph.inputs.map(graph.name(of:))
        var feeds: [String: Tensor] = [:]
        for spec in input {
            let name: String
            let path: String
            let eq = spec.firstIndex(of: "=")
            if let eq, names.contains(String(spec[..<eq])) {
                (name, path) = (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
            } else if names.count == 1, eq == nil || FileManager.default.fileExists(atPath: spec) {
                (name, path) = (names[0], spec)
            } else if let eq {
                throw EmberError(
                    .invalidArgument,
                    "--input '\(spec)': the model has no input named '\(spec[..<eq])'; its inputs are: \(names.joined(separator: ", "))")
            } else {
                throw EmberError(
                    .invalidArgument,
                    "--input '\(spec)' has no NAME=; the model has \(names.count) inputs: \(names.joined(separator: ", "))")
            }
            guard feeds[name] == nil else { throw EmberError(.invalidArgument, "input '\(name)' is given twice") }
            feeds[name] = try Tensor(npyAt: URL(fileURLWithPath: path))
        }
        return feeds
    }

    /// The output directory, which must be a writable directory. Missing, it is created when
    /// `create` is set; otherwise its nearest existing ancestor must be a writable directory.
    static func prepareOutputDirectory(_ path: String, create: Bool) throws -> URL {
        let directory = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw EmberError(.io, "--output-dir '\(path)' exists and is not a directory")
            }
        } else if !create {
            var ancestor = directory.deletingLastPathComponent()
            while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) {
                ancestor = ancestor.deletingLastPathComponent()
            }
            guard isDirectory.boolValue, FileManager.default.isWritableFile(atPath: ancestor.path) else {
                throw EmberError(.io, "cannot create output directory '\(path)': '\(ancestor.path)' is not a writable directory")
            }
            return directory
        } else {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw EmberError(.io, "cannot create output directory '\(path)'")
            }
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw EmberError(.io, "output directory '\(path)' is not writable")
        }
        return directory
    }

    /// Throws when two outputs would be written to one file (`a/b` and `a_b` are both `a_b.npy`).
    static func checkFileNames(_ outputs: [String]) throws {
        var byFile: [String: String] = [:]
        for name in outputs {
            let file = fileName(for: name)
            if let other = byFile[file] {
                throw EmberError(
                    .invalidArgument, "outputs '\(other)' and '\(name)' would both be written to '\(file)'; ember run cannot save both")
            }
            byFile[file] = name
        }
    }

    /// A file name for an output: characters that cannot appear in a file name become `_`.
    static func fileName(for output: String) -> String {
        let safe = String(output.map { $0 == "/" || $0 == "\\" || $0 == "\0" ? "_" : $0 })
        return (safe == "." || safe == ".." ? "_" + safe : safe) + ".npy"
    }
}
