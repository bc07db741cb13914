import EmberCUDADriver
import EmberIR

/// Work recorded once from a stream and replayed with one launch: the launch gaps between a
/// model's many small kernels disappear. The recorded kernels keep reading and writing the same
/// buffers, so those must outlive the graph.
///
///     let graph = try CUDAGraph(capturing: stream) { try executor.enqueue(on: stream) }
///     try graph.launch(on: stream)
public final class CUDAGraph: @unchecked Sendable {  // Immutable handles; the driver is thread-safe.
    public let context: CUDAContext
    let graph: CUgraph?
    let exec: CUgraphExec?

    /// Records what `body` queues on `stream` (nothing runs while recording) and prepares it.
    public init(capturing stream: CUDAStream, _ body: () throws -> Void) throws {
        let context = stream.context
        try context.bind()
        try CUDAStatus.check(
            ember_cuStreamBeginCapture_v2(stream.handle, EMBER_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture")
        var graph: CUgraph?
        do {
            try body()
        } catch {
            _ = ember_cuStreamEndCapture(stream.handle, &graph)
            if let graph { _ = ember_cuGraphDestroy(graph) }
            throw error
        }
        try CUDAStatus.check(ember_cuStreamEndCapture(stream.handle, &graph), "cuStreamEndCapture")
        var exec: CUgraphExec?
        let result = ember_cuGraphInstantiateWithFlags(&exec, graph, 0)
        guard result == 0 else {
            if let graph { _ = ember_cuGraphDestroy(graph) }
            try CUDAStatus.check(result, "cuGraphInstantiateWithFlags")
            throw EmberError(.internalError, "[cuda] cuGraphInstantiateWithFlags failed")
        }
        self.context = context
        self.graph = graph
        self.exec = exec
    }

    deinit {
        _ = ember_cuCtxSetCurrent(context.handle)
        if let exec { _ = ember_cuGraphExecDestroy(exec) }
        if let graph { _ = ember_cuGraphDestroy(graph) }
    }

    /// Queues the whole recorded work on `stream`.
    public func launch(on stream: CUDAStream) throws {
        try context.bind()
        try CUDAStatus.check(ember_cuGraphLaunch(exec, stream.handle), "cuGraphLaunch")
    }
}
