import EmberCUDADriver
import EmberIR
import Foundation

/// CUDA C++ compiled at run time to machine code for one GPU architecture.
///
///     let cubin = try NVRTC.compile(source, name: "add.cu", architecture: device.architecture)
///     let module = try CUDAModule(context, cubin: cubin)
public enum NVRTC {
    /// NVRTC's version, such as (13, 0).
    public static func version() throws -> (major: Int, minor: Int) {
        try CUDALibrary.nvrtc.require()
        var major: Int32 = 0
        var minor: Int32 = 0
        try CUDAStatus.checkNVRTC(ember_nvrtcVersion(&major, &minor), "nvrtcVersion")
        return (Int(major), Int(minor))
    }

    /// Compiles `source` to a cubin for `architecture` (`sm_90`); throws with the compiler's log
    /// when the source does not compile.
    public static func compile(
        _ source: String, name: String = "ember.cu", architecture: String, options: [String] = []
    ) throws -> [UInt8] {
        try CUDALibrary.nvrtc.require()
        var program: nvrtcProgram?
        try CUDAStatus.checkNVRTC(ember_nvrtcCreateProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram")
        defer { _ = ember_nvrtcDestroyProgram(&program) }
        let all = ["--gpu-architecture=\(architecture)", "--std=c++17"] + options
        let result = withCStrings(all) { pointers in
            ember_nvrtcCompileProgram(program, Int32(pointers.count), pointers.baseAddress)
        }
        if result != 0 {
            let log = (try? programLog(program)) ?? ""
            let text = ember_nvrtcGetErrorString(result).map { String(cString: $0) } ?? "nvrtcResult \(result)"
            throw EmberError(.internalError, "[nvrtc] compiling \(name) for \(architecture) failed: \(text)\n\(log)")
        }
        var size = 0
        try CUDAStatus.checkNVRTC(ember_nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
        var cubin = [UInt8](repeating: 0, count: size)
        try cubin.withUnsafeMutableBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { chars in
                try CUDAStatus.checkNVRTC(ember_nvrtcGetCUBIN(program, chars.baseAddress), "nvrtcGetCUBIN")
            }
        }
        return cubin
    }

    private static func programLog(_ program: nvrtcProgram?) throws -> String {
        var size = 0
        try CUDAStatus.checkNVRTC(ember_nvrtcGetProgramLogSize(program, &size), "nvrtcGetProgramLogSize")
        var log = [CChar](repeating: 0, count: max(size, 1))
        try CUDAStatus.checkNVRTC(ember_nvrtcGetProgramLog(program, &log), "nvrtcGetProgramLog")
        return String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Calls `body` with C strings for `strings`, valid during the call.
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer<CChar>($0) }
        return pointers.withUnsafeBufferPointer(body)
    }
}
