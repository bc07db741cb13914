import ArgumentParser
import EmberIR
import EmberOps
import EmberRuntime
import Foundation

/// The backend flags shared by `compile`, `run`, `bench` and `inspect`.
struct BackendOptions: ParsableArguments {
    @Option(name: .long, help: "The backend: auto (the best this machine has), cuda, cpu or reference. An engine file runs on the backend it was built for.")
    var backend: BackendChoice = .auto

    @Option(name: .long, help: "Run this op on the reference kernels (on the CPU, for the CUDA backend) even where a faster kernel exists. Repeatable.")
    var fallbackOp: [String] = []

    @Option(name: .long, help: "How the CUDA backend stores and computes floats: fp32, tf32, fp16 or bf16. Normalizations, softmax and accumulations stay in fp32 inside the kernels.")
    var precision: Precision = .fp32

    @Option(name: .long, help: "The most memory a run's buffers may take, such as 2G or 512M; a run that needs more is refused before it allocates. Defaults to EMBER_MAX_MEMORY, else 3/4 of physical memory.")
    var maxMemory: String?

    @Flag(name: .long, help: "Fail (exit code 1, naming the nodes) unless every node runs on an optimized kernel of the backend: none on a reference kernel, none on the host of a CUDA engine.")
    var requireFull = false

    var fallbackOps: Set<String> { Set(fallbackOp) }

    /// Checks the op names and sets the memory limit for the rest of the process, before any work.
    func validate() throws {
        if requireFull, backend == .reference {
            throw refusal("--require-full: the reference backend runs every node on reference kernels")
        }
        let known = OperatorRegistry.standard.names
        for name in fallbackOp where !known.contains(name) {
            throw refusal("--fallback-op '\(name)' is not an Ember op; the ops are: \(known.sorted().joined(separator: ", "))")
        }
        if let maxMemory {
            do {
                MemoryLimit.set(try MemoryLimit.parse(maxMemory))
            } catch let error as EmberError {
                throw refusal("--max-memory: \(error.message)")
            }
        }
    }
}

extension Precision: ExpressibleByArgument {}

/// A backend named on the command line: a concrete one, or `auto` for the best available here.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, cuda, cpu, reference

    var resolved: Engine.Backend {
        switch self {
        case .auto: .preferred
        case .cuda: .cuda
        case .cpu: .cpu
        case .reference: .reference
        }
    }
}

/// A flag's value refused as Ember errors are, with its message and exit code 1.
func refusal(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(1)
}

/// `--input NAME=1x3x224x224`: fixes an input's shape when a model is compiled or inspected.
struct InputShapeOptions: ParsableArguments {
    @Option(name: .long, help: "Fix an input's shape, as NAME=1x3x224x224; symbolic dims elsewhere follow. Repeatable.")
    var input: [String] = []

    /// The shapes by input name.
    func shapes() throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for item in input {
            guard let equals = item.lastIndex(of: "=") else {
                throw ValidationError("--input '\(item)' is not NAME=SHAPE (such as x=1x3x224x224)")
            }
            let name = String(item[..<equals])
            let text = item[item.index(after: equals)...]
            let dims = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard !name.isEmpty, !text.isEmpty, dims.allSatisfy({ ($0 ?? -1) >= 0 }) else {
                throw ValidationError("--input '\(item)': the shape '\(text)' is not sizes joined by 'x' (such as 1x3x224x224)")
            }
            let shape = dims.compactMap { $0 }
            do {
                _ = try TensorSize.elementCount(shape, of: "--input '\(item)'")
            } catch let error as EmberError {
                throw refusal(error.message)
            }
            shapes[name] = shape
        }
        return shapes
    }
}
