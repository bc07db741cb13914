import EmberCUDADriver
import EmberIR

/// Turns the status codes of the CUDA libraries into `EmberError`s that name the call.
enum CUDAStatus {
    /// Throws unless a driver call succeeded: `[cuda] cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (out of memory)`.
    static func check(_ result: CUresult, _ call: StaticString) throws {
        guard result != 0 else { return }
        if result == EMBER_CUDA_NOT_LOADED {
            try CUDALibrary.driver.require()
            throw EmberError(.unsupported, "[cuda] \(call): the CUDA driver is not loaded")
        }
        throw EmberError(.internalError, "[cuda] \(call): \(driverMessage(result))")
    }

    /// The driver's name and description of a status, such as `CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)`.
    static func driverMessage(_ result: CUresult) -> String {
        var name: UnsafePointer<CChar>?
        var text: UnsafePointer<CChar>?
        _ = ember_cuGetErrorName(result, &name)
        _ = ember_cuGetErrorString(result, &text)
        let n = name.map { String(cString: $0) } ?? "CUresult \(result)"
        return text.map { "\(n) (\(String(cString: $0)))" } ?? n
    }

    /// Throws unless an NVRTC call succeeded.
    static func checkNVRTC(_ result: nvrtcResult, _ call: StaticString) throws {
        guard result != 0 else { return }
        try CUDALibrary.nvrtc.require()
        let text = ember_nvrtcGetErrorString(result).map { String(cString: $0) } ?? "nvrtcResult \(result)"
        throw EmberError(.internalError, "[nvrtc] \(call): \(text)")
    }

    /// Throws unless a cuBLASLt call succeeded.
    static func checkCUBLAS(_ result: cublasStatus_t, _ call: StaticString) throws {
        guard result != 0 else { return }
        try CUDALibrary.cublasLt.require()
        let text = ember_cublasLtGetStatusString(result).map { String(cString: $0) } ?? "cublasStatus \(result)"
        throw EmberError(.internalError, "[cublaslt] \(call): \(text)")
    }

    /// Throws unless a cuDNN call succeeded.
    static func checkCUDNN(_ result: cudnnStatus_t, _ call: StaticString) throws {
        guard result != 0 else { return }
        try CUDALibrary.cudnn.require()
        let text = ember_cudnnGetErrorString(result).map { String(cString: $0) } ?? "cudnnStatus \(result)"
        var detail = [CChar](repeating: 0, count: 512)
        ember_cudnnGetLastErrorString(&detail, detail.count)
        let why = String(decoding: detail.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // cuDNN's own categories: 3000s mean "not supported here", which callers may try around.
        let code: EmberError.Code = (3000..<4000).contains(result) ? .unsupported : .internalError
        throw EmberError(code, "[cudnn] \(call): \(text)" + (why.isEmpty ? "" : " (\(why))"))
    }
}
