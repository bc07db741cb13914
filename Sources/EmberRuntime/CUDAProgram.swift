import EmberCPU
import EmberCUDA
import EmberIR
import EmberPasses
import Foundation

/// How an engine stores and computes floating-point tensors on the GPU.
public enum Precision: String, Sendable, CaseIterable {
    /// f32 throughout.
    case fp32
    /// f32 tensors; products and convolutions round their operands to tf32 on the tensor cores.
    case tf32
    /// f16 tensors between kernels; kernels compute in f32 inside.
    case fp16
    /// bf16 tensors between kernels; kernels compute in f32 inside.
    case bf16

    /// The dtype f32 tensors are stored in, when it changes.
    public var lowered: DType? {
        switch self {
        case .fp32, .tf32: nil
        case .fp16: .f16
        case .bf16: .bf16
        }
    }
}

/// An engine's graph run on the GPU. Kernels are specialized for exact shapes, so each distinct
/// set of input shapes gets its own build, made on first use and kept: the graph specialized
/// (shape arithmetic folded, patch convolutions made matrix products), placed on the device
/// with host parts where the CUDA provider lacks an op, its products tuned by timing, and, when
/// it runs wholly on the device, captured as one CUDA graph that each run replays.
///
/// Runs of one shape are serialized; runs of different shapes proceed at once.
public final class CUDAProgram: @unchecked Sendable {  // Mutable state is guarded by locks.
    /// The graph with symbolic dims, as stored in the engine file.
    public let graph: Graph
    public let precision: Precision
    /// Ops that run on the host even where the device has a kernel.
    public let hostOps: Set<String>
    public let kernels: CUDAKernels
    private let lock = NSLock()
    private var builds: [[[Int]]: Build] = [:]

    /// One input shape's executor, its stream and its captured replay.
    final class Build: @unchecked Sendable {  // Used under `lock`.
        let executor: CUDAGraphExecutor
        let stream: CUDAStream
        let replay: CUDAGraph?
        let lock = NSLock()

        init(_ executor: CUDAGraphExecutor, stream: CUDAStream, replay: CUDAGraph?) {
            self.executor = executor
            self.stream = stream
            self.replay = replay
        }
    }

    /// Why the CUDA backend cannot run here; nil when it can.
    public static var unavailableReason: String? {
        do {
            _ = try CUDAContext()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// A program for `graph` (already optimized and lowered to `precision`) on device 0.
    /// `images` is machine code compiled before, by `CUDAKernelCompiler.imageKey`.
    public init(_ graph: Graph, precision: Precision, hostOps: Set<String> = [], images: [String: [UInt8]] = [:]) throws {
        self.graph = graph
        self.precision = precision
        self.hostOps = hostOps
        kernels = try CUDAKernels(CUDAContext(), allowTF32: precision == .tf32, images: images)
    }

    /// Machine code of every generated kernel built so far, for the engine file.
    public var compiledImages: [String: [UInt8]] { kernels.compiler.compiledImages }

    /// The input shapes of every build made so far.
    public var builtShapes: [[[Int]]] {
        lock.lock()
        defer { lock.unlock() }
        return Array(builds.keys)
    }

    /// The build for `shapes` (one per graph input, in order), made now if it is not there yet.
    @discardableResult
    public func prepare(_ shapes: [[Int]]) throws -> CUDAGraphExecutor { try build(shapes).executor }

    /// The input shapes in the graph's order, when every dim is known; otherwise nil.
    public var staticShapes: [[Int]]? {
        let shapes = graph.inputs.map { graph.type(of: $0).knownShape }
        return shapes.contains { $0 == nil } ? nil : shapes.compactMap { $0 }
    }

    /// `graph` as a build for these input shapes runs it: specialized (shape arithmetic folded),
    /// then lowered for this backend (1-D convolutions as 2-D ones for cuDNN, group and instance
    /// norms as row norms, the elementwise steps after either fused again; patch convolutions as
    /// matrix products).
    public static func specialized(_ graph: Graph, inputs shapes: [String: [Int]]) throws -> Graph {
        var specialized = graph
        try Pipeline.specialize(&specialized, inputs: shapes)
        let lowering: [any Pass] = [
            ConvolutionAs2D(), ChannelNormsAsLayerNorm(), FuseElementwise(), PatchConvolutionAsMatmul(), DeadCodeElimination(),
        ]
        try PassManager(lowering).run(&specialized)
        return specialized
    }

    /// Runs the program on host tensors, by input name.
    public func run(_ inputs: [String: Tensor]) throws -> [(name: String, tensor: Tensor)] {
        try graph.checkInputs(inputs)
        let build = try build(graph.inputs.map { inputs[graph.name(of: $0)]?.shape ?? [] })
        build.lock.lock()
        defer { build.lock.unlock() }
        try build.executor.upload(inputs)
        try launch(build)
        return try build.executor.outputs()
    }

    /// Runs the program on device memory: `inputs` are device addresses in the graph's order,
    /// each holding a row-major tensor of the given dtype and shape; `outputs` is asked for each
    /// output's device memory once its shape is known. Everything is queued on `stream` (a
    /// CUDA stream handle, such as PyTorch's current stream; 0 for the legacy default stream),
    /// and the call returns when it is done there.
    public func run(
        device inputs: [(address: UInt64, dtype: DType, shape: [Int])], stream address: UInt64,
        outputs: (_ index: Int, _ dtype: DType, _ shape: [Int]) throws -> UInt64
    ) throws {
        guard inputs.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) inputs, received \(inputs.count)")
        }
        var named: [String: (dtype: DType, shape: [Int])] = [:]
        for (id, input) in zip(graph.inputs, inputs) { named[graph.name(of: id)] = (input.dtype, input.shape) }
        try graph.checkInputs(shapes: named)
        let build = try build(inputs.map(\.shape))
        let stream = CUDAStream(borrowing: address, kernels.context)
        build.lock.lock()
        defer { build.lock.unlock() }
        for (buffer, input) in zip(try build.executor.inputBuffers(), inputs) {
            try buffer.copy(from: input.address, bytes: buffer.byteCount, stream: stream)
        }
        try launch(build, on: stream)
        for (index, (buffer, id)) in zip(try build.executor.outputBuffers(), build.executor.graph.outputs).enumerated() {
            let t = build.executor.graph.type(of: id)
            let address = try outputs(index, t.dtype, t.knownShape ?? [])
            try buffer.copy(to: address, bytes: buffer.byteCount, stream: stream)
        }
        try stream.synchronize()
    }

    /// The wall-clock milliseconds of each of `iterations` runs, after `warmup` (at least one)
    /// untimed ones, with the inputs already on the device: launching the replay (or queuing every
    /// step) and waiting for it, as a caller whose tensors live on the GPU sees it. Also returns
    /// the outputs. The inputs are uploaded again before each run, outside its time: a run's later
    /// values reuse the inputs' memory once nothing reads them.
    public func deviceMilliseconds(
        _ inputs: [String: Tensor], warmup: Int, iterations: Int
    ) throws -> (ms: [Double], outputs: [(name: String, tensor: Tensor)]) {
        let shapes = graph.inputs.map { inputs[graph.name(of: $0)]?.shape ?? [] }
        let build = try build(shapes)
        build.lock.lock()
        defer { build.lock.unlock() }
        for _ in 0..<max(warmup, 1) {
            try build.executor.upload(inputs)
            try launch(build)
        }
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<iterations {
            try build.executor.upload(inputs)
            let start = clock.now
            try launch(build)
            let d = clock.now - start
            samples.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
        }
        return (samples, try build.executor.outputs())
    }

    /// Each step's device time for these inputs' shapes (see `CUDAGraphExecutor.profile`).
    public func profile(_ inputs: [String: Tensor], iterations: Int) throws -> [(step: String, kind: String, ms: Double)] {
        let build = try build(graph.inputs.map { inputs[graph.name(of: $0)]?.shape ?? [] })
        build.lock.lock()
        defer { build.lock.unlock() }
        try build.executor.upload(inputs)
        return try build.executor.profile(on: build.stream, iterations: iterations)
    }

    /// Queues one run on `stream` (the build's own by default) and waits for it.
    private func launch(_ build: Build, on stream: CUDAStream? = nil) throws {
        let stream = stream ?? build.stream
        if let replay = build.replay {
            try replay.launch(on: stream)
        } else {
            try build.executor.enqueue(on: stream)
        }
        try stream.synchronize()
    }

    private func build(_ shapes: [[Int]]) throws -> Build {
        lock.lock()
        if let built = builds[shapes] {
            lock.unlock()
            return built
        }
        lock.unlock()
        // Built outside the lock (tuning takes a while); a racing build of the same shape loses.
        var named: [String: [Int]] = [:]
        for (id, shape) in zip(graph.inputs, shapes) { named[graph.name(of: id)] = shape }
        let specialized = try CUDAProgram.specialized(graph, inputs: named)
        let executor = try CUDAGraphExecutor(specialized, kernels: kernels, hostOps: hostOps) { part in
            CPUHostSegment(try CPUProgram(part, providers: CPUBackend.providers))
        }
        let stream = try CUDAStream(kernels.context)
        try executor.tune(on: stream)
        let replay = executor.usesHost ? nil : try executor.capture(on: stream)
        let build = Build(executor, stream: stream, replay: replay)
        lock.lock()
        defer { lock.unlock() }
        if let raced = builds[shapes] { return raced }
        builds[shapes] = build
        return build
    }
}

/// Nodes the CUDA backend lacks, run by the CPU backend.
struct CPUHostSegment: CUDAHostSegment {
    let program: CPUProgram

    init(_ program: CPUProgram) { self.program = program }

    func run(_ inputs: [Tensor]) throws -> [Tensor] {
        var named: [String: Tensor] = [:]
        for (id, tensor) in zip(program.graph.inputs, inputs) { named[program.graph.name(of: id)] = tensor }
        return try program.run(named).map(\.tensor)
    }
}
