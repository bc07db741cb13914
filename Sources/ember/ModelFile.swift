import EmberIR
import EmberONNX
import EmberOps
import EmberPasses
import EmberRuntime
import EmberTorch
import Foundation

extension ModelFile {
    /// An engine ready to run: an engine file as it is, any other model optimized and built for `backend`.
    /// `shapes` fixes the named inputs' shapes first; `profiles` are the shape profiles a new
    /// engine serves (checked against the model, and torch.export's ranges, before any work).
    /// With `--require-full`, an engine with any node on a reference kernel or on the host of a
    /// CUDA engine is refused, naming those nodes. `check` sees the graph as imported (an
    /// engine's own graph), before any optimization or kernel work: flags that name inputs or
    /// dims are refused there, not after a long compile.
    func engine(
        _ backend: BackendOptions, optimization: OptimizationOptions, shapes: [String: [Int]] = [:],
        profiles: [ShapeProfile] = [], check: (Graph) throws -> Void = { _ in }
    ) throws -> Engine {
        let engine = try buildEngine(backend, optimization: optimization, shapes: shapes, profiles: profiles, check: check)
        if backend.requireFull { try NodePlacement.requireFull(try engine.placements(), backend: engine.backend) }
        return engine
    }

    private func buildEngine(
        _ backend: BackendOptions, optimization: OptimizationOptions, shapes: [String: [Int]], profiles: [ShapeProfile],
        check: (Graph) throws -> Void
    ) throws -> Engine {
        if case .engine(let engine) = self {
            try check(engine.graph)
            return engine
        }
        var graph = try graph()
        try check(graph)
        if !shapes.isEmpty { try Pipeline.specialize(&graph, inputs: shapes) }
        try ShapeProfile.validate(profiles, for: graph, limits: symbolLimits)
        try optimization.optimize(&graph)
        try Engine.lower(&graph, to: backend.precision)
        return try Engine(
            graph: consume graph, backend: backend.backend.resolved, fallbackOps: backend.fallbackOps, precision: backend.precision,
            profiles: profiles)
    }
}
