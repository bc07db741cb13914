import EmberIR
import Foundation

/// Compiles generated kernels with NVRTC for one context's device and loads them, once per
/// distinct source: nodes with the same shapes and steps share one module. Machine code given
/// up front (an engine file's kernels) is loaded as it is, so a saved engine needs no compiler;
/// NVRTC is only looked for when a kernel is missing.
public final class CUDAKernelCompiler: @unchecked Sendable {  // The caches are guarded by `lock`.
    public let context: CUDAContext
    private let lock = NSLock()
    private var modules: [String: CUDAModule] = [:]
    /// Machine code by `imageKey`: given up front, and every kernel compiled since.
    private var images: [String: [UInt8]]

    public init(_ context: CUDAContext, images: [String: [UInt8]] = [:]) throws {
        self.context = context
        self.images = images
    }

    /// The loaded entry point of `kernel`.
    public func function(_ kernel: CUDAGeneratedKernel) throws -> CUDAFunction {
        lock.lock()
        let cached = modules[kernel.source]
        let key = CUDAKernelCompiler.imageKey(kernel.source, architecture: context.device.architecture)
        let stored = images[key]
        lock.unlock()
        if let cached { return try cached.function(kernel.entry) }
        let cubin = try stored ?? NVRTC.compile(kernel.source, name: "\(kernel.entry).cu", architecture: context.device.architecture)
        let module = try CUDAModule(context, cubin: cubin)
        lock.lock()
        modules[kernel.source] = module
        images[key] = cubin
        lock.unlock()
        return try module.function(kernel.entry)
    }

    /// How many distinct kernels have been loaded.
    public var moduleCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return modules.count
    }

    /// The machine code of every kernel known so far, by `imageKey`: what an engine file stores.
    public var compiledImages: [String: [UInt8]] {
        lock.lock()
        defer { lock.unlock() }
        return images
    }

    /// The name machine code is stored under: the architecture and a 64-bit FNV-1a hash of the
    /// source (stable across runs and machines, unlike Swift's `Hasher`).
    public static func imageKey(_ source: String, architecture: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in source.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return "\(architecture)-\(String(hash, radix: 16))-\(source.utf8.count)"
    }
}
