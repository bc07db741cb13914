import EmberCUDADriver
import EmberIR

/// A device's primary context, retained for as long as this object lives. Every object that
/// owns device resources keeps its context alive, so the context outlives them.
///
/// The driver keeps a current context per thread; Ember binds it before each call that needs
/// one (`bind`), so a context can be used from any thread.
public final class CUDAContext: @unchecked Sendable {  // The handle is immutable; the driver is thread-safe.
    public let device: CUDADevice
    let handle: CUcontext

    /// Retains the primary context of device `ordinal`.
    public init(device ordinal: Int = 0) throws {
        let device = try CUDADevice(ordinal: ordinal)
        var context: CUcontext?
        try CUDAStatus.check(ember_cuDevicePrimaryCtxRetain(&context, device.handle), "cuDevicePrimaryCtxRetain")
        guard let context else {
            throw EmberError(.internalError, "[cuda] cuDevicePrimaryCtxRetain returned no context")
        }
        self.device = device
        handle = context
        try bind()
    }

    deinit { _ = ember_cuDevicePrimaryCtxRelease_v2(device.handle) }

    /// Makes this context current on the calling thread.
    public func bind() throws {
        try CUDAStatus.check(ember_cuCtxSetCurrent(handle), "cuCtxSetCurrent")
    }

    /// Waits for all work in this context.
    public func synchronize() throws {
        try bind()
        try CUDAStatus.check(ember_cuCtxSynchronize(), "cuCtxSynchronize")
    }

    /// Free and total device memory, in bytes.
    public func memoryInfo() throws -> (free: Int, total: Int) {
        try bind()
        var free = 0
        var total = 0
        try CUDAStatus.check(ember_cuMemGetInfo_v2(&free, &total), "cuMemGetInfo")
        return (free, total)
    }
}
