import EmberCUDADriver
import EmberIR

/// Loaded device code (a cubin), unloaded when the module goes away.
public final class CUDAModule: @unchecked Sendable {  // The handle is immutable; the driver is thread-safe.
    public let context: CUDAContext
    let handle: CUmodule?

    /// Loads `cubin` (from `NVRTC.compile`) into `context`.
    public init(_ context: CUDAContext, cubin: [UInt8]) throws {
        guard !cubin.isEmpty else { throw EmberError(.invalidArgument, "[cuda] cannot load an empty cubin") }
        try context.bind()
        var module: CUmodule?
        try cubin.withUnsafeBytes { raw in
            try CUDAStatus.check(ember_cuModuleLoadData(&module, raw.baseAddress), "cuModuleLoadData")
        }
        self.context = context
        handle = module
    }

    deinit {
        if let handle {
            _ = ember_cuCtxSetCurrent(context.handle)
            _ = ember_cuModuleUnload(handle)
        }
    }

    /// The kernel named `name` (an `extern "C"` function, so the name is not mangled).
    public func function(_ name: String) throws -> CUDAFunction {
        try context.bind()
        var function: CUfunction?
        let result = ember_cuModuleGetFunction(&function, handle, name)
        guard result == 0, let function else {
            throw EmberError(.internalError, "[cuda] kernel '\(name)' not found: \(CUDAStatus.driverMessage(result))")
        }
        return CUDAFunction(module: self, handle: function, name: name)
    }
}

/// One argument of a kernel launch, by value, as the kernel's parameter list declares it.
public enum CUDAKernelArgument: Sendable {
    case pointer(CUdeviceptr)
    case int32(Int32)
    case int64(Int64)
    case float32(Float)

    /// The address of `buffer`.
    public static func buffer(_ buffer: CUDABuffer) -> CUDAKernelArgument { .pointer(buffer.address) }
}

/// A kernel in a loaded module; keeps its module loaded.
public struct CUDAFunction: @unchecked Sendable {  // The handle is immutable; the driver is thread-safe.
    public let module: CUDAModule
    let handle: CUfunction
    public let name: String

    /// Lets the kernel use up to `bytes` of dynamic shared memory (above the default 48 KiB).
    public func allowSharedMemory(_ bytes: Int) throws {
        try CUDAStatus.check(
            ember_cuFuncSetAttribute(handle, EMBER_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, Int32(bytes)),
            "cuFuncSetAttribute")
    }

    /// Queues the kernel on `stream` with `grid` blocks of `block` threads.
    public func launch(
        grid: (Int, Int, Int), block: (Int, Int, Int), sharedBytes: Int = 0, stream: CUDAStream,
        _ arguments: [CUDAKernelArgument]
    ) throws {
        let dims = [grid.0, grid.1, grid.2, block.0, block.1, block.2]
        guard dims.allSatisfy({ (1...Int(Int32.max)).contains($0) }) else {
            throw EmberError(.invalidArgument, "[cuda] kernel '\(name)': invalid launch shape grid \(grid), block \(block)")
        }
        try module.context.bind()
        // Every argument is at most 8 bytes: one 8-byte slot each, and a pointer to each slot.
        var slots = [UInt64](repeating: 0, count: max(arguments.count, 1))
        try slots.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            for (i, argument) in arguments.enumerated() {
                let slot = base + 8 * i
                switch argument {
                case .pointer(let p): slot.storeBytes(of: p, as: UInt64.self)
                case .int32(let v): slot.storeBytes(of: v, as: Int32.self)
                case .int64(let v): slot.storeBytes(of: v, as: Int64.self)
                case .float32(let v): slot.storeBytes(of: v, as: Float.self)
                }
            }
            var pointers: [UnsafeMutableRawPointer?] = (0..<arguments.count).map { base + 8 * $0 }
            let result = pointers.withUnsafeMutableBufferPointer { params in
                ember_cuLaunchKernel(
                    handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2), UInt32(block.0), UInt32(block.1),
                    UInt32(block.2), UInt32(sharedBytes), stream.handle, params.baseAddress, nil)
            }
            try CUDAStatus.check(result, "cuLaunchKernel")
        }
    }
}
