import EmberCUDADriver
import EmberIR

/// A queue of device work, destroyed when the stream goes away.
public final class CUDAStream: @unchecked Sendable {  // The handle is immutable; the driver is thread-safe.
    public let context: CUDAContext
    let handle: CUstream?
    /// Whether this object created the stream (and destroys it).
    private let owned: Bool

    /// A new stream that does not wait for the legacy default stream.
    public init(_ context: CUDAContext) throws {
        try context.bind()
        var stream: CUstream?
        try CUDAStatus.check(ember_cuStreamCreate(&stream, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate")
        self.context = context
        handle = stream
        owned = true
    }

    /// A stream someone else created and destroys (PyTorch's current stream, say), by its
    /// handle's address; 0 is the legacy default stream.
    public init(borrowing address: UInt64, _ context: CUDAContext) {
        self.context = context
        handle = CUstream(bitPattern: UInt(address))
        owned = false
    }

    deinit {
        if let handle, owned {
            _ = ember_cuCtxSetCurrent(context.handle)
            _ = ember_cuStreamDestroy_v2(handle)
        }
    }

    /// Waits until all work queued on the stream is done, and reports any error it raised.
    public func synchronize() throws {
        try context.bind()
        try CUDAStatus.check(ember_cuStreamSynchronize(handle), "cuStreamSynchronize")
    }
}

/// A marker in a stream, for timing device work.
///
///     try start.record(stream); run(); try end.record(stream)
///     let ms = try end.milliseconds(since: start)
public final class CUDAEvent: @unchecked Sendable {  // The handle is immutable; the driver is thread-safe.
    public let context: CUDAContext
    let handle: CUevent?

    public init(_ context: CUDAContext) throws {
        try context.bind()
        var event: CUevent?
        try CUDAStatus.check(ember_cuEventCreate(&event, 0 /* CU_EVENT_DEFAULT: timed */), "cuEventCreate")
        self.context = context
        handle = event
    }

    deinit {
        if let handle {
            _ = ember_cuCtxSetCurrent(context.handle)
            _ = ember_cuEventDestroy_v2(handle)
        }
    }

    /// Marks the point in `stream` reached by the work queued so far.
    public func record(_ stream: CUDAStream) throws {
        try context.bind()
        try CUDAStatus.check(ember_cuEventRecord(handle, stream.handle), "cuEventRecord")
    }

    /// Milliseconds of device time from `start` to this event; waits for this event first.
    public func milliseconds(since start: CUDAEvent) throws -> Double {
        try context.bind()
        try CUDAStatus.check(ember_cuEventSynchronize(handle), "cuEventSynchronize")
        var ms: Float = 0
        try CUDAStatus.check(ember_cuEventElapsedTime(&ms, start.handle, handle), "cuEventElapsedTime")
        return Double(ms)
    }
}

extension CUDAStream {
    /// The median device time in milliseconds of `body` (which queues work on this stream), over
    /// `iterations` timed runs after `warmup` untimed ones.
    public func medianMilliseconds(warmup: Int = 3, iterations: Int = 20, _ body: () throws -> Void) throws -> Double {
        for _ in 0..<warmup { try body() }
        try synchronize()
        let start = try CUDAEvent(context)
        let end = try CUDAEvent(context)
        var times: [Double] = []
        for _ in 0..<max(iterations, 1) {
            try start.record(self)
            try body()
            try end.record(self)
            times.append(try end.milliseconds(since: start))
        }
        times.sort()
        return times[times.count / 2]
    }
}
