import EmberCUDADriver
import EmberIR

/// A library the CUDA backend loads at run time, by its usual soname.
public enum CUDALibrary: String, CaseIterable, Sendable {
    case driver = "libcuda.so.1"
    case nvrtc = "libnvrtc.so.13"
    case cublasLt = "libcublasLt.so.13"
    case cudnn = "libcudnn.so.9"

    /// What the library is for, for `ember doctor`.
    public var role: String {
        switch self {
        case .driver: "CUDA driver"
        case .nvrtc: "NVRTC, the run-time compiler"
        case .cublasLt: "cuBLASLt, matrix products"
        case .cudnn: "cuDNN, convolutions"
        }
    }

    /// Throws, naming the library and why dlopen or dlsym failed, unless the library is loaded.
    /// Each library is loaded at most once per process.
    public func require() throws {
        if let failure = loadFailure {
            throw EmberError(.unsupported, "[cuda] \(rawValue) (\(role)) is unavailable: \(failure)")
        }
    }

    /// Whether the library loaded.
    public var isLoaded: Bool { loadFailure == nil }

    /// Why dlopen or dlsym failed; nil when the library loaded.
    public var loadFailure: String? { CUDALibrary.failures[self] ?? nil }

    /// nil for each library that loaded, otherwise the loader's message. Swift initializes a
    /// static once, thread-safely, so this is where the C loaders (not thread-safe) run.
    private static let failures: [CUDALibrary: String?] = {
        var result: [CUDALibrary: String?] = [:]
        for library in CUDALibrary.allCases { result[library] = load(library) }
        return result
    }()

    private static func load(_ library: CUDALibrary) -> String? {
        var message = [CChar](repeating: 0, count: 512)
        let status: Int32 = message.withUnsafeMutableBufferPointer { buffer in
            switch library {
            case .driver: ember_cuda_load_driver(nil, buffer.baseAddress, buffer.count)
            case .nvrtc: ember_cuda_load_nvrtc(nil, buffer.baseAddress, buffer.count)
            case .cublasLt: ember_cuda_load_cublaslt(nil, buffer.baseAddress, buffer.count)
            case .cudnn: ember_cuda_load_cudnn(nil, buffer.baseAddress, buffer.count)
            }
        }
        guard status != 0 else { return nil }
        return String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
