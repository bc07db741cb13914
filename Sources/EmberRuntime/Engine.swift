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

        /// The fastest backend that works on this machine, for `--backend auto`.
        public static var preferred: Backend { .reference }
    }

    public let graph: Graph
    public let backend: Backend

    public init(graph: Graph, backend: Backend) {
        self.graph = graph
        self.backend = backend
    }

    /// Optimizes `graph` with `passes` and builds an engine for `backend`.
    public static func compile(_ graph: Graph, backend: Backend, passes: PassManager = PassManager(Pipeline.passes(.O2))) throws -> Engine {
        var optimized = graph
        try passes.run(&optimized)
        return Engine(graph: optimized, backend: backend)
    }

    /// The inputs the engine takes, by name, with their (possibly symbolic) types.
    public var inputs: [(name: String, type: TensorType)] { graph.inputs.map { (graph.name(of: $0), graph.type(of: $0)) } }
    /// The outputs the engine produces, by name.
    public var outputs: [(name: String, type: TensorType)] { graph.outputs.map { (graph.name(of: $0), graph.type(of: $0)) } }

    /// Runs the engine; inputs are checked against the declared types first.
    public func run(_ inputs: [String: Tensor]) throws -> [(name: String, tensor: Tensor)] {
        switch backend {
        case .reference: try ReferenceBackend().run(graph, inputs: inputs)
        }
    }
}
