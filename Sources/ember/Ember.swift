import ArgumentParser
import EmberIR
import EmberRuntime
import Foundation

/// The `ember` command line: compile, run, inspect and benchmark models.
@main
struct Ember: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Ember: an inference compiler for PyTorch and ONNX models.",
        version: EmberVersion.string,
        subcommands: [Compile.self, Run.self, Bench.self, Inspect.self, Doctor.self, Ops.self])

    /// Runs a command body, turning Ember errors into a message on stderr and exit code 1.
    static func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as EmberError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

