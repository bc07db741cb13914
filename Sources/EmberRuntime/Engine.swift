import EmberCPU
import EmberIR
import EmberOps
import EmberPasses
import EmberReference
import Foundation

/// Ember's version, recorded in every engine file.
public enum EmberVersion {
    public static let string = "0.1.0"
}

/// A compiled model: the optimized graph and the backend that runs it. Immutable, so one engine
/// serves many threads at once; each run owns its buffers.
///
///     let engine = try Engine.compile(graph, backend: .reference)
///     let outputs = try engine.run(["x": x])
public struct Engine: Sendable {
    /// The backends an engine can be built for.
    public enum Backend: String, Sendable, CaseIterable {
        case reference
        case cpu

        /// The fastest backend that works on this machine, for `--backend auto`.
        public static var preferred: Backend { .cpu }
    }

    public let graph: Graph
    public let backend: Backend
    /// Ops that run on the reference kernels even where a faster kernel exists.
    public let fallbackOps: Set<String>
    /// The CPU backend's kernels and plans; nil for the reference backend.
    public let program: CPUProgram?

    /// An engine that runs `graph` as it is, building its backend's kernels.
    public init(graph: Graph, backend: Backend, fallbackOps: Set<String> = []) throws {
        self.graph = graph
        self.backend = backend
        self.fallbackOps = fallbackOps
        switch backend {
        case .reference: program = nil
        case .cpu: program = try CPUProgram(graph, providers: CPUBackend.providers, fallbackOps: fallbackOps)
        }
    }

    /// Optimizes `graph` with `passes` and builds an engine for `backend`.
    public static func compile(
        _ graph: Graph, backend: Backend, fallbackOps: Set<String> = [],
        passes: PassManager = PassManager(Pipeline.passes(.O2))
    ) throws -> Engine {
        var optimized = graph
        try passes.run(&optimized)
        return try Engine(graph: optimized, backend: backend, fallbackOps: fallbackOps)
    }

    /// The inputs the engine takes, by name, with their (possibly symbolic) types.
    public var inputs: [(name: String, type: TensorType)] { graph.inputs.map { (graph.name(of: $0), graph.type(of: $0)) } }
    /// The outputs the engine produces, by name.
    public var outputs: [(name: String, type: TensorType)] { graph.outputs.map { (graph.name(of: $0), graph.type(of: $0)) } }

    /// Runs the engine; inputs are checked against the declared types first.
    public func run(_ inputs: [String: Tensor]) throws -> [(name: String, tensor: Tensor)] {
        if let program { return try program.run(inputs) }
        return try ReferenceBackend().run(graph, inputs: inputs)
    }
}
