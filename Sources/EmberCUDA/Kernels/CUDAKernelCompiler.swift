import EmberIR
import Foundation

/// Compiles generated kernels with NVRTC for one context's device and loads them, once per
/// distinct source: nodes with the same shapes and steps share one module.
public final class CUDAKernelCompiler: @unchecked Sendable {  // The cache is guarded by `lock`.
    public let context: CUDAContext
    private let lock = NSLock()
    private var modules: [String: CUDAModule] = [:]

    public init(_ context: CUDAContext) throws {
        try CUDALibrary.nvrtc.require()
        self.context = context
    }

    /// The loaded entry point of `kernel`.
    public func function(_ kernel: CUDAGeneratedKernel) throws -> CUDAFunction {
        lock.lock()
        let cached = modules[kernel.source]
        lock.unlock()
        if let cached { return try cached.function(kernel.entry) }
        let cubin = try NVRTC.compile(kernel.source, name: "\(kernel.entry).cu", architecture: context.device.architecture)
        let module = try CUDAModule(context, cubin: cubin)
        lock.lock()
        modules[kernel.source] = module
        lock.unlock()
        return try module.function(kernel.entry)
    }

    /// How many distinct kernels have been compiled.
    public var moduleCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return modules.count
    }
}
