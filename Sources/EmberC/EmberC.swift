import CEmberAPI
import EmberIR
import EmberRuntime
import Foundation

// The C API of include/ember.h. Everything unsafe about it lives in this file and
// EmberC+Compile.swift: C strings and caller buffers are turned into Swift values at the door,
// and errors become `ember_last_error()`.

/// What a C caller holds: the engine and the C strings its descriptions point to.
final class EngineHandle {
    /// Mutable only for `ember_engine_set_allow_rebuild`, which callers make before running it.
    var engine: Engine
    let inputs: [TensorInfo]
    let outputs: [TensorInfo]
    let backendName: UnsafeMutablePointer<CChar>
    /// The engine's shape profiles as `ember_engine_profiles` returns them.
    let profiles: UnsafeMutablePointer<CChar>

    /// An input or output description whose strings and dims stay allocated while the engine lives.
    final class TensorInfo {
        let name: UnsafeMutablePointer<CChar>
        let dtype: Int32
        let dims: UnsafeMutablePointer<Int64>
        let dimNames: UnsafeMutablePointer<UnsafePointer<CChar>?>
        let rank: Int

        init(_ name: String, _ type: TensorType) {
            self.name = strdup(name)
            dtype = Int32(type.dtype.onnxCode)
            let shape = type.shape ?? []
            rank = shape.count
            dims = .allocate(capacity: max(rank, 1))
            dimNames = .allocate(capacity: max(rank, 1))
            for (i, dim) in shape.enumerated() {
                dims[i] = Int64(dim.value ?? -1)
                if case .symbol(let s) = dim { dimNames[i] = UnsafePointer(strdup(s)) } else { dimNames[i] = nil }
            }
        }

        deinit {
            free(name)
            for i in 0..<rank { free(UnsafeMutableRawPointer(mutating: dimNames[i])) }
            dims.deallocate()
            dimNames.deallocate()
        }
    }

    init(_ engine: Engine) {
        self.engine = engine
        inputs = engine.inputs.map { TensorInfo($0.name, $0.type) }
        outputs = engine.outputs.map { TensorInfo($0.name, $0.type) }
        backendName = strdup(engine.backend.rawValue)
        profiles = strdup(engine.profiles.map(\.description).joined(separator: ";"))
    }

    deinit {
        free(backendName)
        free(profiles)
    }

    /// A retained handle for C, which `ember_engine_free` releases.
    var opaque: OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }
}

/// The calling thread's last error message.
enum LastError {
    nonisolated(unsafe) static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    static func set(_ message: String) {
        free(pthread_getspecific(key))
        pthread_setspecific(key, strdup(message))
    }

    static var message: UnsafePointer<CChar>? { pthread_getspecific(key).map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } }
}

/// Runs `body`, turning any error into a non-zero return and `ember_last_error()`.
func reporting(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch {
        LastError.set("\(error)")
        return 1
    }
}

func handle(_ pointer: OpaquePointer?) throws -> EngineHandle {
    guard let pointer else { throw EmberError(.invalidArgument, "the engine is NULL") }
    return Unmanaged<EngineHandle>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
}

nonisolated(unsafe) private let versionString = strdup(EmberVersion.string)

@_cdecl("ember_version")
public func ember_version() -> UnsafePointer<CChar>? { UnsafePointer(versionString) }

@_cdecl("ember_last_error")
public func ember_last_error() -> UnsafePointer<CChar>? { LastError.message }

@_cdecl("ember_engine_load")
public func ember_engine_load(_ path: UnsafePointer<CChar>?) -> OpaquePointer? {
    do {
        guard let path else { throw EmberError(.invalidArgument, "the engine path is NULL") }
        let engine = try EngineFile.read(from: URL(fileURLWithPath: String(cString: path)))
        return EngineHandle(engine).opaque
    } catch {
        LastError.set("\(error)")
        return nil
    }
}

@_cdecl("ember_engine_free")
public func ember_engine_free(_ pointer: OpaquePointer?) {
    guard let pointer else { return }
    Unmanaged<EngineHandle>.fromOpaque(UnsafeRawPointer(pointer)).release()
}

@_cdecl("ember_engine_input_count")
public func ember_engine_input_count(_ pointer: OpaquePointer?) -> Int32 {
    (try? handle(pointer)).map { Int32($0.inputs.count) } ?? -1
}

@_cdecl("ember_engine_output_count")
public func ember_engine_output_count(_ pointer: OpaquePointer?) -> Int32 {
    (try? handle(pointer)).map { Int32($0.outputs.count) } ?? -1
}

private func describe(_ infos: [EngineHandle.TensorInfo], _ index: Int32, _ out: UnsafeMutablePointer<ember_tensor_info>?, _ what: String) throws {
    guard let out else { throw EmberError(.invalidArgument, "the info pointer is NULL") }
    guard index >= 0, Int(index) < infos.count else {
        throw EmberError(.invalidArgument, "\(what) index \(index) is out of range (the engine has \(infos.count))")
    }
    let info = infos[Int(index)]
    out.pointee = ember_tensor_info(
        name: UnsafePointer(info.name), dtype: info.dtype, rank: Int32(info.rank), dims: UnsafePointer(info.dims),
        dim_names: UnsafePointer(info.dimNames))
}

@_cdecl("ember_engine_input_info")
public func ember_engine_input_info(_ pointer: OpaquePointer?, _ index: Int32, _ out: UnsafeMutablePointer<ember_tensor_info>?) -> Int32 {
    reporting { try describe(handle(pointer).inputs, index, out, "input") }
}

@_cdecl("ember_engine_output_info")
public func ember_engine_output_info(_ pointer: OpaquePointer?, _ index: Int32, _ out: UnsafeMutablePointer<ember_tensor_info>?) -> Int32 {
    reporting { try describe(handle(pointer).outputs, index, out, "output") }
}

@_cdecl("ember_engine_run")
public func ember_engine_run(
    _ pointer: OpaquePointer?, _ inputs: UnsafePointer<ember_tensor>?, _ inputCount: Int32,
    _ outputs: UnsafeMutablePointer<ember_tensor>?, _ outputCount: Int32
) -> Int32 {
    reporting {
        let engine = try handle(pointer).engine
        guard outputCount >= 0, outputCount == 0 || outputs != nil else {
            throw EmberError(.invalidArgument, "the output array is NULL or has a negative count")
        }
        let results = try engine.run(views(of: inputs, inputCount, for: engine))
        // Check every output buffer before writing any.
        var plan: [(slot: Int, tensor: Tensor)] = []
        for i in 0..<Int(outputCount) {
            let slot = outputs![i]
            let match: (name: String, tensor: Tensor)?
            if let cName = slot.name {
                let name = String(cString: cName)
                match = results.first { $0.name == name }
                guard match != nil else {
                    throw EmberError(.invalidArgument, "the engine has no output named '\(name)'")
                }
            } else {
                match = i < results.count ? results[i] : nil
            }
            guard let (name, tensor) = match else {
                throw EmberError(.invalidArgument, "output \(i): the engine has only \(results.count) outputs")
            }
            let needed = tensor.count * tensor.dtype.byteSize
            guard slot.data != nil || needed == 0, slot.byte_size >= needed, slot.dims != nil else {
                throw EmberError(
                    .invalidArgument, "output '\(name)' needs \(needed) bytes and a dims array; the buffer has \(slot.byte_size)")
            }
            plan.append((i, tensor))
        }
        for (i, tensor) in plan {
            let bytes = tensor.bytes()
            outputs![i].dtype = Int32(tensor.dtype.onnxCode)
            outputs![i].rank = Int32(tensor.rank)
            for (axis, size) in tensor.shape.enumerated() { outputs![i].dims![axis] = Int64(size) }
            bytes.withUnsafeBytes { src in
                if let base = src.baseAddress, let dst = outputs![i].data { dst.copyMemory(from: base, byteCount: src.count) }
            }
        }
    }
}

