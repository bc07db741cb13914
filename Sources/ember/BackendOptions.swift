import ArgumentParser
import EmberRuntime

/// The backend flags shared by `compile`, `run`, `bench` and `inspect`.
struct BackendOptions: ParsableArguments {
    @Option(name: .long, help: "The backend: auto (the best this machine has), cpu or reference. An engine file runs on the backend it was built for.")
    var backend: BackendChoice = .auto

    @Option(name: .long, help: "Run this op on the reference kernels even where a faster kernel exists. Repeatable.")
    var fallbackOp: [String] = []

    var fallbackOps: Set<String> { Set(fallbackOp) }
}

/// A backend named on the command line: a concrete one, or `auto` for the best available here.
enum BackendChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, cpu, reference

    var resolved: Engine.Backend {
        switch self {
        case .auto: .preferred
        case .cpu: .cpu
        case .reference: .reference
        }
    }
}
