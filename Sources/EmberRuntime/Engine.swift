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

    public let backend: Backend
    /// Ops that run on the reference kernels even where a faster kernel exists.
    public let fallbackOps: Set<String>
    /// The CPU backend's kernels and plans; nil for the reference backend.
    public let program: CPUProgram?
    /// The graph the reference backend evaluates; nil where the program holds it.
    private let referenceGraph: Graph?

    /// The graph the engine runs. On the CPU backend it lacks the weights the kernels packed into
    /// copies of their own, so they are not held twice; `completeGraph()` has every constant.
    public var graph: Graph { program?.graph ?? referenceGraph! }

    /// An engine that runs `graph` as it is, building its backend's kernels. Pass the graph with
    /// `consume` so that weights the kernels pack are let go as they are packed.
    public init(graph: consuming Graph, backend: Backend, fallbackOps: Set<String> = []) throws {
        self.backend = backend
        self.fallbackOps = fallbackOps
        switch backend {
        case .reference:
            program = nil
            referenceGraph = graph
        case .cpu:
            program = try CPUProgram(consume graph, providers: CPUBackend.providers, fallbackOps: fallbackOps)
            referenceGraph = nil
        }
    }

    /// The graph with every constant, as it is saved.
    public func completeGraph() throws -> Graph { try program?.completeGraph() ?? graph }

    /// Optimizes `graph` with `passes` and builds an engine for `backend`.
    public static func compile(
        _ graph: Graph, backend: Backend, fallbackOps: Set<String> = [],
        passes: PassManager = PassManager(Pipeline.passes(.O2))
    ) throws -> Engine {
        var optimized = graph
        try passes.run(&optimized)
        return try Engine(graph: consume optimized, backend: backend, fallbackOps: fallbackOps)
    }

    /// The inputs the engine takes, by name, with their (possibly symbolic) types.
    public var inputs: [(name: String, type: TensorType)] { graph.inputs.map { (graph.name(of: $0), graph.type(of: $0)) } }
    /// The outputs the engine produces, by name.
    public var outputs: [(name: String, type: TensorType)] { graph.outputs.map { (graph.name(of: $0), graph.type(of: $0)) } }

    /// Runs the engine; inputs are checked against the declared types first.
    public func run(_ inputs: [String: Tensor], profile: StepProfile? = nil) throws -> [(name: String, tensor: Tensor)] {
        if let program { return try program.run(inputs, profile: profile) }
        return try ReferenceBackend().run(graph, inputs: inputs)
    }

    /// Runs the engine on inputs in caller memory (engine input order) and returns the outputs as
    /// tensors, by name.
    public func run(_ inputs: [TensorView]) throws -> [(name: String, tensor: Tensor)] {
        var buffers: [(dtype: DType, shape: [Int], data: UnsafeMutableRawPointer)] = []
        defer { buffers.forEach { $0.data.deallocate() } }
        try run(inputs) { _, dtype, shape in
            let data = UnsafeMutableRawPointer.allocate(byteCount: max(shape.reduce(1, *) * dtype.byteSize, 1), alignment: 64)
            buffers.append((dtype, shape, data))
            return data
        }
        return try zip(graph.outputs, buffers).map { id, b in
            let bytes = UnsafeRawBufferPointer(start: b.data, count: b.shape.reduce(1, *) * b.dtype.byteSize)
            return (graph.name(of: id), try Tensor(b.dtype, shape: b.shape, bytes: bytes))
        }
    }

    /// Runs the engine on inputs in caller memory, in the engine's input order, without copying
    /// them on the CPU backend. `output` is asked for each output's memory (its position, dtype and
    /// shape) and must return at least that many bytes; the results are written there.
    public func run(
        _ inputs: [TensorView],
        output: (_ index: Int, _ dtype: DType, _ shape: [Int]) throws -> UnsafeMutableRawPointer
    ) throws {
        if let program { return try program.run(inputs, output: output) }
        guard inputs.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) inputs, received \(inputs.count)")
        }
        var tensors: [String: Tensor] = [:]
        for (id, view) in zip(graph.inputs, inputs) {
            tensors[graph.name(of: id)] = try Tensor(view.dtype, shape: view.shape, bytes: UnsafeRawBufferPointer(start: view.data, count: view.byteCount))
        }
        for (index, result) in try ReferenceBackend().run(graph, inputs: tensors).enumerated() {
            let destination = try output(index, result.tensor.dtype, result.tensor.shape)
            result.tensor.withUnsafeRawBytes { bytes in
                if let base = bytes.baseAddress { destination.copyMemory(from: base, byteCount: bytes.count) }
            }
        }
    }
}
