import CEmberAPI
import EmberCPU
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

/// The precision a C caller names (NULL is fp32); precisions other than fp32 are for the CUDA backend.
func precisionNamed(_ name: String?, for backend: Engine.Backend) throws -> Precision {
    let text = name ?? "fp32"
    if text == "int8" { throw EmberError(.unsupported, "precision 'int8' is not available yet") }
    guard let precision = Precision(rawValue: text) else {
        throw EmberError(.invalidArgument, "unknown precision '\(text)'; the precisions are: fp32, tf32, fp16, bf16")
    }
    try Engine.check(precision, for: backend)
    return precision
}

/// Imports a model file, recognized by its contents (`ModelFile`, as the command line does).
func importModel(_ path: String) throws -> Graph {
    let file = try ModelFile.open(path)
    if case .engine = file {
        throw EmberError(.invalidArgument, "'\(path)' is already an engine; load it with ember_engine_load")
    }
    return try file.graph()
}

@_cdecl("ember_engine_compile")
public func ember_engine_compile(
    _ path: UnsafePointer<CChar>?, _ backendName: UnsafePointer<CChar>?, _ precision: UnsafePointer<CChar>?
) -> OpaquePointer? {
    do {
        guard let path else { throw EmberError(.invalidArgument, "the model path is NULL") }
        let chosen = try backend(named: backendName.map { String(cString: $0) })
        let precision = try precisionNamed(precision.map { String(cString: $0) }, for: chosen)
        let graph = try importModel(String(cString: path))
        return EngineHandle(try Engine.compile(graph, backend: chosen, precision: precision)).opaque
    } catch {
        LastError.set("\(error)")
        return nil
    }
}

@_cdecl("ember_engine_compile_profiled")
public func ember_engine_compile_profiled(
    _ path: UnsafePointer<CChar>?, _ backendName: UnsafePointer<CChar>?, _ precision: UnsafePointer<CChar>?,
    _ profiles: UnsafePointer<CChar>?
) -> OpaquePointer? {
    do {
        guard let path else { throw EmberError(.invalidArgument, "the model path is NULL") }
        let chosen = try backend(named: backendName.map { String(cString: $0) })
        let precision = try precisionNamed(precision.map { String(cString: $0) }, for: chosen)
        let parsed = try ShapeProfile.parseList(profiles.map { String(cString: $0) } ?? "")
        let file = try ModelFile.open(String(cString: path))
        if case .engine = file {
            throw EmberError(.invalidArgument, "'\(String(cString: path))' is already an engine; load it with ember_engine_load")
        }
        let graph = try file.graph()
        try ShapeProfile.validate(parsed, for: graph, limits: file.symbolLimits)
        return EngineHandle(try Engine.compile(graph, backend: chosen, precision: precision, profiles: parsed)).opaque
    } catch {
        LastError.set("\(error)")
        return nil
    }
}

@_cdecl("ember_engine_set_allow_rebuild")
public func ember_engine_set_allow_rebuild(_ pointer: OpaquePointer?, _ allow: Int32) -> Int32 {
    reporting { try handle(pointer).engine.allowsRebuild = allow != 0 }
}

@_cdecl("ember_engine_profiles")
public func ember_engine_profiles(_ pointer: OpaquePointer?) -> UnsafePointer<CChar>? {
    (try? handle(pointer)).map { UnsafePointer($0.profiles) }
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
        let views = try views(of: inputs, inputCount, for: engine)
        try engine.run(views) { index, dtype, shape in
            try output(index, dtype, shape, of: engine, from: allocate, context) ?? emptyBuffer
        }
    }
}

@_cdecl("ember_engine_run_device")
public func ember_engine_run_device(
    _ pointer: OpaquePointer?, _ inputs: UnsafePointer<ember_tensor>?, _ inputCount: Int32,
    _ allocate: ember_output_allocator?, _ context: UnsafeMutableRawPointer?, _ stream: UnsafeMutableRawPointer?
) -> Int32 {
    reporting {
        let engine = try handle(pointer).engine
        guard engine.cudaProgram != nil else {
            throw EmberError(.invalidArgument, "a \(engine.backend.rawValue) engine takes host memory; device memory is for CUDA engines")
        }
        guard let allocate else { throw EmberError(.invalidArgument, "the output allocator is NULL") }
        // Only the names, dtypes, shapes and sizes are read here: the data stays on the device.
        let views = try views(of: inputs, inputCount, for: engine)
        let device = views.map { (address: UInt64(UInt(bitPattern: $0.data)), dtype: $0.dtype, shape: $0.shape) }
        try engine.run(device: device, stream: UInt64(UInt(bitPattern: stream))) { index, dtype, shape in
            UInt64(UInt(bitPattern: try output(index, dtype, shape, of: engine, from: allocate, context)))
        }
    }
}

/// The caller's memory for output `index` of `engine`, from its allocator; nil for an empty
/// output the allocator gave nothing for. Throws when a non-empty output gets no memory.
private func output(
    _ index: Int, _ dtype: DType, _ shape: [Int], of engine: Engine, from allocate: ember_output_allocator,
    _ context: UnsafeMutableRawPointer?
) throws -> UnsafeMutableRawPointer? {
    let name = engine.outputs[index].name
    let bytes = shape.reduce(1, *) * dtype.byteSize
    let dims = shape.map { Int64($0) }
    let buffer = name.withCString { cName in
        dims.withUnsafeBufferPointer { dims in
            allocate(context, Int32(index), cName, Int32(dtype.onnxCode), Int32(dims.count), dims.baseAddress, bytes)
        }
    }
    guard buffer != nil || bytes == 0 else {
        throw EmberError(.invalidArgument, "the allocator returned no buffer for output '\(name)' (\(bytes) bytes)")
    }
    return buffer
}

/// Where an empty tensor points: never read or written, but never NULL.
private let emptyMemory = AlignedMemory(byteCount: 64)
private var emptyBuffer: UnsafeMutableRawPointer { emptyMemory.pointer }

/// The caller's inputs as views of its memory (nothing is copied), in the engine's input order,
/// checked against the engine's declared types and their buffers' sizes.
func views(of inputs: UnsafePointer<ember_tensor>?, _ inputCount: Int32, for engine: Engine) throws -> [TensorView] {
    guard inputCount >= 0, inputCount == 0 || inputs != nil else {
        throw EmberError(.invalidArgument, "the input array is NULL or has a negative count")
    }
    var byName: [String: TensorView] = [:]
    for i in 0..<Int(inputCount) {
        let t = inputs![i]
        guard let cName = t.name else { throw EmberError(.invalidArgument, "input \(i) has no name") }
        let name = String(cString: cName)
        guard let dtype = DType(onnxCode: Int(t.dtype)) else {
            throw EmberError(.invalidArgument, "input '\(name)' has unknown dtype code \(t.dtype)")
        }
        guard t.rank >= 0, t.rank <= EMBER_MAX_RANK, t.rank == 0 || t.dims != nil else {
            throw EmberError(.invalidArgument, "input '\(name)' has rank \(t.rank) (0 to \(EMBER_MAX_RANK) with dims)")
        }
        let shape = (0..<Int(t.rank)).map { Int(clamping: t.dims![$0]) }
        guard let count = Tensor.elementCount(shape), count.multipliedReportingOverflow(by: dtype.byteSize) == (t.byte_size, false)
        else {
            throw EmberError(.invalidArgument, "input '\(name)' of shape \(shape) (\(dtype)) does not fit its \(t.byte_size)-byte buffer")
        }
        guard let data = t.data ?? (t.byte_size == 0 ? emptyBuffer : nil) else {
            throw EmberError(.invalidArgument, "input '\(name)' has no data")
        }
        byName[name] = TensorView(data: data, dtype: dtype, shape: shape)
    }
    try engine.graph.checkInputs(shapes: byName.mapValues { ($0.dtype, $0.shape) })
    return engine.inputs.compactMap { byName[$0.name] }
}

@_cdecl("ember_check_options")
public func ember_check_options(_ backendName: UnsafePointer<CChar>?, _ precision: UnsafePointer<CChar>?) -> Int32 {
    reporting {
        let chosen = try backend(named: backendName.map { String(cString: $0) })
        _ = try precisionNamed(precision.map { String(cString: $0) }, for: chosen)
    }
}

@_cdecl("ember_backend_available")
public func ember_backend_available(_ backendName: UnsafePointer<CChar>?) -> Int32 {
    do {
        let chosen = try backend(named: backendName.map { String(cString: $0) })
        if chosen == .cuda, let reason = CUDAProgram.unavailableReason {
            throw EmberError(.unsupported, "the CUDA backend cannot run on this machine: \(reason)")
        }
        return 1
    } catch {
        LastError.set("\(error)")
        return 0
    }
}

/// The JSON that `ember_engine_placements` last returned on this thread.
nonisolated(unsafe) private var placementsKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

@_cdecl("ember_engine_placements")
public func ember_engine_placements(
    _ pointer: OpaquePointer?, _ inputs: UnsafePointer<ember_tensor>?, _ inputCount: Int32
) -> UnsafePointer<CChar>? {
    do {
        let engine = try handle(pointer).engine
        guard inputCount >= 0, inputCount == 0 || inputs != nil else {
            throw EmberError(.invalidArgument, "the input array is NULL or has a negative count")
        }
        // Only names and dims are read: the data may be NULL.
        var given: [String: [Int]] = [:]
        for i in 0..<Int(inputCount) {
            let t = inputs![i]
            guard let cName = t.name else { throw EmberError(.invalidArgument, "input \(i) has no name") }
            guard t.rank >= 0, t.rank <= EMBER_MAX_RANK, t.rank == 0 || t.dims != nil else {
                throw EmberError(.invalidArgument, "input '\(String(cString: cName))' has rank \(t.rank) (0 to \(EMBER_MAX_RANK) with dims)")
            }
            given[String(cString: cName)] = (0..<Int(t.rank)).map { Int(clamping: t.dims![$0]) }
        }
        let shapes = engine.inputs.map { input in given[input.name] ?? (input.type.shape ?? []).map { $0.value ?? 1 } }
        struct Report: Encodable {
            var backend: String
            var nodes: [NodePlacement]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(Report(backend: engine.backend.rawValue, nodes: try engine.placements(for: shapes))), as: UTF8.self)
        free(pthread_getspecific(placementsKey))
        let copy = strdup(json)
        pthread_setspecific(placementsKey, copy)
        return UnsafePointer(copy)
    } catch {
        LastError.set("\(error)")
        return nil
    }
}
