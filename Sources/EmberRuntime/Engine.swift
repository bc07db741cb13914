import EmberCPU
import EmberCUDA
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
        case cuda

        /// The fastest backend that works on this machine, for `--backend auto`: CUDA where a
        /// GPU and its libraries are there, otherwise the CPU.
        public static var preferred: Backend { CUDAProgram.unavailableReason == nil ? .cuda : .cpu }
    }

    public let backend: Backend
    /// Ops that run on the reference kernels even where a faster kernel exists.
    public let fallbackOps: Set<String>
    /// How floating-point tensors are stored and computed (the CUDA backend; f32 elsewhere).
    public let precision: Precision
    /// The CPU backend's kernels and plans; nil for the other backends.
    public let program: CPUProgram?
    /// The CUDA backend's program; nil for the other backends.
    public let cudaProgram: CUDAProgram?
    /// The shape profiles the engine serves; a run's sizes must fit one of them unless
    /// `allowsRebuild`. None: any shape the graph's types allow.
    public let profiles: [ShapeProfile]
    /// Whether runs with shapes outside every profile are served anyway (each new shape gets its
    /// own plan or build, as without profiles). Not stored in the engine file: the caller opts in.
    public var allowsRebuild = false
    /// The graph the reference backend evaluates; nil where a program holds it.
    private let referenceGraph: Graph?

    /// The graph the engine runs. On the CPU backend it lacks the weights the kernels packed into
    /// copies of their own, so they are not held twice; `completeGraph()` has every constant.
    public var graph: Graph { program?.graph ?? cudaProgram?.graph ?? referenceGraph! }

    /// An engine that runs `graph` as it is, building its backend's kernels. Pass the graph with
    /// `consume` so that weights the kernels pack are let go as they are packed. A CUDA engine's
    /// graph is already lowered to `precision`; `images` is its kernels' machine code when it
    /// was built before (from an engine file). `packed` has the packed copies of the graph's held
    /// constants (a CPU engine file's packed weights).
    public init(
        graph: consuming Graph, backend: Backend, fallbackOps: Set<String> = [], precision: Precision = .fp32,
        images: [String: [UInt8]] = [:], packed: [ValueID: PackedConstant] = [:], profiles: [ShapeProfile] = []
    ) throws {
        try ShapeProfile.validate(profiles, for: graph)
        self.profiles = profiles
        self.backend = backend
        self.fallbackOps = fallbackOps
        self.precision = precision
        try Engine.check(precision, for: backend)
        guard backend == .cpu || graph.heldConstants.isEmpty else {
            throw EmberError(.invalidModel, "weights packed for the CPU backend in an engine for the \(backend.rawValue) backend")
        }
        switch backend {
        case .reference:
            program = nil
            cudaProgram = nil
            referenceGraph = graph
        case .cpu:
            let cpu = try CPUProgram(consume graph, providers: CPUBackend.providers, fallbackOps: fallbackOps, packed: packed)
            // Each profile's OPT shapes are planned now, so the runs most expected find their plan
            // made. A shape that cannot be planned is left for its run to report.
            for profile in profiles {
                if let shapes = profile.optimalShapes(for: cpu.graph) { _ = try? cpu.arenaSize(for: shapes) }
            }
            program = cpu
            cudaProgram = nil
            referenceGraph = nil
        case .cuda:
            let cuda = try CUDAProgram(graph, precision: precision, hostOps: fallbackOps, images: images)
            // Shapes known now are built now, so their kernels are ready (and saved with the engine).
            if let shapes = cuda.staticShapes { try cuda.prepare(shapes) }
            program = nil
            cudaProgram = cuda
            referenceGraph = nil
        }
    }

    /// Throws unless `backend` computes in `precision`: precisions other than fp32 are the CUDA
    /// backend's.
    public static func check(_ precision: Precision, for backend: Backend) throws {
        guard backend == .cuda || precision == .fp32 else {
            throw EmberError(.invalidArgument, "precision \(precision.rawValue) is for the CUDA backend; the \(backend.rawValue) backend computes in fp32")
        }
    }

    /// The graph with every constant, as it is saved.
    public func completeGraph() throws -> Graph { try program?.completeGraph() ?? graph }

    /// Optimizes `graph` with `passes`, lowers it to `precision` and builds an engine for `backend`.
    public static func compile(
        _ graph: Graph, backend: Backend, fallbackOps: Set<String> = [], precision: Precision = .fp32,
        passes: PassManager = PassManager(Pipeline.passes(.O2)), profiles: [ShapeProfile] = []
    ) throws -> Engine {
        // Checked before the work: the optimized graph keeps the inputs' types.
        try ShapeProfile.validate(profiles, for: graph)
        var optimized = graph
        try passes.run(&optimized)
        try lower(&optimized, to: precision)
        return try Engine(
            graph: consume optimized, backend: backend, fallbackOps: fallbackOps, precision: precision, profiles: profiles)
    }

    /// Stores `graph`'s f32 tensors in `precision`'s narrower type, when it has one.
    public static func lower(_ graph: inout Graph, to precision: Precision) throws {
        if let dtype = precision.lowered { try PassManager([LowerPrecision(dtype)]).run(&graph) }
    }

    /// The inputs the engine takes, by name, with their (possibly symbolic) types.
    public var inputs: [(name: String, type: TensorType)] { graph.inputs.map { (graph.name(of: $0), graph.type(of: $0)) } }
    /// The outputs the engine produces, by name.
    public var outputs: [(name: String, type: TensorType)] { graph.outputs.map { (graph.name(of: $0), graph.type(of: $0)) } }

    /// Runs the engine; inputs are checked against the declared types first.
    public func run(_ inputs: [String: Tensor], profile: StepProfile? = nil) throws -> [(name: String, tensor: Tensor)] {
        try checkProfiles(inputs.mapValues { ($0.dtype, $0.shape) })
        if let program { return try program.run(inputs, profile: profile) }
        if let cudaProgram { return try cudaProgram.run(inputs) }
        return try ReferenceBackend().run(graph, inputs: inputs)
    }

    /// Runs a CUDA engine on device memory (engine input order), queued on `stream`; `output`
    /// returns each output's device address. Shapes are checked against the profiles first.
    public func run(
        device inputs: [(address: UInt64, dtype: DType, shape: [Int])], stream: UInt64,
        output: (_ index: Int, _ dtype: DType, _ shape: [Int]) throws -> UInt64
    ) throws {
        guard let cudaProgram else {
            throw EmberError(.invalidArgument, "a \(backend.rawValue) engine takes host memory; device memory is for CUDA engines")
        }
        guard inputs.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) inputs, received \(inputs.count)")
        }
        try checkProfiles(zip(graph.inputs, inputs).map { (graph.name(of: $0), ($1.dtype, $1.shape)) })
        try cudaProgram.run(device: inputs, stream: stream, outputs: output)
    }

    /// Throws unless the sizes these inputs bind to the graph's symbols fit one of the engine's
    /// profiles (or the engine allows rebuilding, or has none). The one place every run path
    /// checks profiles: the CLI, the C API and Python all run through here.
    public func checkProfiles(_ inputs: [String: (dtype: DType, shape: [Int])]) throws {
        guard !profiles.isEmpty, !allowsRebuild else { return }
        try ShapeProfile.check(try graph.checkInputs(shapes: inputs), against: profiles)
    }

    private func checkProfiles(_ inputs: [TensorView]) throws {
        guard !profiles.isEmpty, !allowsRebuild else { return }
        guard inputs.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) inputs, received \(inputs.count)")
        }
        try checkProfiles(zip(graph.inputs, inputs).map { (graph.name(of: $0), ($1.dtype, $1.shape)) })
    }

    private func checkProfiles(_ pairs: [(String, (DType, [Int]))]) throws {
        guard !profiles.isEmpty, !allowsRebuild else { return }
        try checkProfiles(Dictionary(pairs.map { ($0.0, (dtype: $0.1.0, shape: $0.1.1)) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Runs the engine on inputs in caller memory (engine input order) and returns the outputs as
    /// tensors, by name.
    public func run(_ inputs: [TensorView]) throws -> [(name: String, tensor: Tensor)] {
        var buffers: [(dtype: DType, shape: [Int], memory: AlignedMemory)] = []
        try run(inputs) { index, dtype, shape in
            let what = "output '\(graph.name(of: graph.outputs[index]))' (\(dtype)\(shape))"
            let bytes = try TensorSize.byteCount(shape, dtype, of: what)
            try MemoryLimit.check(bytes, for: what)
            let memory = AlignedMemory(byteCount: bytes)
            buffers.append((dtype, shape, memory))
            return memory.pointer
        }
        return try zip(graph.outputs, buffers).map { id, b in
            (graph.name(of: id), try Tensor(b.dtype, shape: b.shape, bytes: UnsafeRawBufferPointer(b.memory.bytes)))
        }
    }

    /// Runs the engine on inputs in caller memory, in the engine's input order, without copying
    /// them on the CPU backend. `output` is asked for each output's memory (its position, dtype and
    /// shape) and must return at least that many bytes; the results are written there.
    public func run(
        _ inputs: [TensorView],
        output: (_ index: Int, _ dtype: DType, _ shape: [Int]) throws -> UnsafeMutableRawPointer
    ) throws {
        try checkProfiles(inputs)
        if let program { return try program.run(inputs, output: output) }
        guard inputs.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) inputs, received \(inputs.count)")
        }
        var tensors: [String: Tensor] = [:]
        for (id, view) in zip(graph.inputs, inputs) {
            _ = try TensorSize.byteCount(view.shape, view.dtype, of: "input '\(graph.name(of: id))'")
            tensors[graph.name(of: id)] = try Tensor(view.dtype, shape: view.shape, bytes: UnsafeRawBufferPointer(start: view.data, count: view.byteCount))
        }
        let results = try cudaProgram?.run(tensors) ?? ReferenceBackend().run(graph, inputs: tensors)
        for (index, result) in results.enumerated() {
            let destination = try output(index, result.tensor.dtype, result.tensor.shape)
            result.tensor.withUnsafeRawBytes { bytes in
                if let base = bytes.baseAddress { destination.copyMemory(from: base, byteCount: bytes.count) }
            }
        }
    }
}
