import CEmberAPI
import EmberIR
import EmberONNX
import EmberRuntime
import EmberTorch
import Foundation

// The C API's compiler half: build an engine from a model file, save it, say which ATen ops the
// .pt2 importer converts, and run an engine into buffers that the caller allocates once the output
// shapes are known.

/// The backend a C caller names: "auto" (or NULL) is the best one this machine has.
func backend(named name: String?) throws -> Engine.Backend {
    guard let name, name != "auto" else { return .preferred }
    guard let backend = Engine.Backend(rawValue: name) else {
        let known = (["auto"] + Engine.Backend.allCases.map(\.rawValue)).joined(separator: ", ")
        throw EmberError(.invalidArgument, "unknown backend '\(name)'; the backends are: \(known)")
    }
    return backend
}

/// Checks the requested precision; engines are built in fp32 today.
func checkPrecision(_ name: String?) throws {
    switch name ?? "fp32" {
    case "fp32": return
    case "tf32", "fp16", "bf16", "int8":
        throw EmberError(.unsupported, "precision '\(name ?? "")' is not available yet; engines are built in fp32")
    default:
        throw EmberError(.invalidArgument, "unknown precision '\(name ?? "")'; the precisions are: fp32, tf32, fp16, bf16, int8")
    }
}

/// Imports a model file, recognized by its contents: a `.pt2` archive (a zip), Ember text IR, or ONNX.
func importModel(_ path: String) throws -> Graph {
    let url = URL(fileURLWithPath: path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw EmberError(.io, "model file '\(path)' does not exist or is a directory")
    }
    let prefix = ((try? FileHandle(forReadingFrom: url).read(upToCount: 16)) ?? nil) ?? Data()
    if EngineFile.looksLikeEngine(prefix) {
        throw EmberError(.invalidArgument, "'\(path)' is already an engine; load it with ember_engine_load")
    }
    if prefix.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
        return try TorchProgram(contentsOf: url).importGraph()
    }
    if let text = try? String(contentsOf: url, encoding: .utf8), text.drop(while: { $0.isWhitespace }).hasPrefix("graph @") {
        return try Graph(parsing: text, registry: .standard)
    }
    return try ONNXModel(contentsOf: url).importGraph()
}

@_cdecl("ember_engine_compile")
public func ember_engine_compile(
    _ path: UnsafePointer<CChar>?, _ backendName: UnsafePointer<CChar>?, _ precision: UnsafePointer<CChar>?
) -> OpaquePointer? {
    do {
        guard let path else { throw EmberError(.invalidArgument, "the model path is NULL") }
        let chosen = try backend(named: backendName.map { String(cString: $0) })
        try checkPrecision(precision.map { String(cString: $0) })
        let graph = try importModel(String(cString: path))
        return EngineHandle(try Engine.compile(graph, backend: chosen)).opaque
    } catch {
        LastError.set("\(error)")
        return nil
    }
}

@_cdecl("ember_engine_save")
public func ember_engine_save(_ pointer: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    reporting {
        let engine = try handle(pointer).engine
        guard let path else { throw EmberError(.invalidArgument, "the engine path is NULL") }
        try EngineFile.write(engine, to: URL(fileURLWithPath: String(cString: path)))
    }
}

@_cdecl("ember_engine_backend")
public func ember_engine_backend(_ pointer: OpaquePointer?) -> UnsafePointer<CChar>? {
    (try? handle(pointer)).map { UnsafePointer($0.backendName) }
}

@_cdecl("ember_torch_op_supported")
public func ember_torch_op_supported(_ target: UnsafePointer<CChar>?) -> Int32 {
    guard let target else { return 0 }
    return TorchOps.converter(TorchOps.shortName(String(cString: target))) == nil ? 0 : 1
}

@_cdecl("ember_engine_run_allocating")
public func ember_engine_run_allocating(
    _ pointer: OpaquePointer?, _ inputs: UnsafePointer<ember_tensor>?, _ inputCount: Int32,
    _ allocate: ember_output_allocator?, _ context: UnsafeMutableRawPointer?
) -> Int32 {
    reporting {
        let engine = try handle(pointer).engine
        guard let allocate else { throw EmberError(.invalidArgument, "the output allocator is NULL") }
        let results = try engine.run(feeds(inputs, inputCount))
        for (index, (name, tensor)) in results.enumerated() {
            let bytes = tensor.bytes()
            let dims = tensor.shape.map { Int64($0) }
            let buffer = name.withCString { cName in
                dims.withUnsafeBufferPointer { dims in
                    allocate(context, Int32(index), cName, Int32(tensor.dtype.onnxCode), Int32(dims.count), dims.baseAddress, bytes.count)
                }
            }
            guard let buffer else {
                if bytes.isEmpty { continue }
                throw EmberError(.invalidArgument, "the allocator returned no buffer for output '\(name)' (\(bytes.count) bytes)")
            }
            bytes.withUnsafeBytes { src in
                if let base = src.baseAddress { buffer.copyMemory(from: base, byteCount: src.count) }
            }
        }
    }
}

@_cdecl("ember_check_options")
public func ember_check_options(_ backendName: UnsafePointer<CChar>?, _ precision: UnsafePointer<CChar>?) -> Int32 {
    reporting {
        _ = try backend(named: backendName.map { String(cString: $0) })
        try checkPrecision(precision.map { String(cString: $0) })
    }
}
