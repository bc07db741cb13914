import EmberIR
import Foundation

/// Reading ONNX `TensorProto`s: every storage form (raw bytes, typed fields, external files),
/// with sizes checked against the bytes present before anything is allocated.
struct ONNXTensorReader {
    /// The folder external data paths are resolved in; they may not leave it.
    let directory: URL?

    func tensor(_ proto: Onnx_TensorProto, what: String) throws -> Tensor {
        let code = Int(proto.dataType)
        guard let dtype = DType(onnxCode: code) else {
            throw EmberError(.unsupported, "\(what) has data type \(code) (\(Self.onnxTypeName(code))), which Ember does not support")
        }
        let shape = proto.dims.map { Int(clamping: $0) }
        guard let count = Tensor.elementCount(shape) else {
            throw EmberError(.invalidModel, "\(what) has invalid dims \(proto.dims)")
        }
        do {
            if proto.dataLocation == .external {
                return try Tensor(dtype, shape: shape, bytes: try external(proto, expected: count * dtype.byteSize, what: what))
            }
            if proto.hasRawData || count == 0 {
                return try Tensor(dtype, shape: shape, bytes: proto.rawData)
            }
            return try typed(proto, dtype, shape, count)
        } catch let e as EmberError {
            throw e.located(what)
        }
    }

    /// Tensors stored in the typed repeated fields. Types narrower than 32 bits live in `int32_data`
    /// (float16 and bfloat16 as their bit patterns).
    private func typed(_ p: Onnx_TensorProto, _ dtype: DType, _ shape: [Int], _ count: Int) throws -> Tensor {
        func check(_ n: Int, _ field: String) throws {
            guard n == count else {
                throw EmberError(.invalidModel, "\(field) holds \(n) values, expected \(count) for shape \(shape)")
            }
        }
        switch dtype {
        case .f32:
            try check(p.floatData.count, "float_data")
            return Tensor(shape: shape, storage: .f32(p.floatData))
        case .f64:
            try check(p.doubleData.count, "double_data")
            return Tensor(shape: shape, storage: .f64(p.doubleData))
        case .i64:
            try check(p.int64Data.count, "int64_data")
            return Tensor(shape: shape, storage: .i64(p.int64Data))
        case .u64, .u32:
            try check(p.uint64Data.count, "uint64_data")
            return Tensor(dtype, shape: shape, int64s: p.uint64Data.map { Int64(bitPattern: $0) })
        case .f16:
            try check(p.int32Data.count, "int32_data")
            return Tensor(shape: shape, storage: .f16(p.int32Data.map { Float16(bitPattern: UInt16(truncatingIfNeeded: $0)) }))
        case .bf16:
            try check(p.int32Data.count, "int32_data")
            return Tensor(shape: shape, storage: .bf16(p.int32Data.map { BFloat16(bitPattern: UInt16(truncatingIfNeeded: $0)) }))
        case .i32, .i16, .i8, .u16, .u8, .bool:
            try check(p.int32Data.count, "int32_data")
            return Tensor(dtype, shape: shape, int64s: p.int32Data.map(Int64.init))
        }
    }

    /// The bytes of an external-data tensor, read from a file inside the model's folder.
    private func external(_ p: Onnx_TensorProto, expected: Int, what: String) throws -> Data {
        var location: String?
        var offset = 0
        var length: Int?
        for entry in p.externalData {
            switch entry.key {
            case "location": location = entry.value
            case "offset":
                guard let v = Int(entry.value), v >= 0 else { throw EmberError(.invalidModel, "external data offset '\(entry.value)' is not valid") }
                offset = v
            case "length":
                guard let v = Int(entry.value), v >= 0 else { throw EmberError(.invalidModel, "external data length '\(entry.value)' is not valid") }
                length = v
            default: break
            }
        }
        guard let location, !location.isEmpty else {
            throw EmberError(.invalidModel, "external data has no location")
        }
        guard let directory else {
            throw EmberError(.invalidModel, "external data '\(location)' cannot be resolved: the model was not read from a file")
        }
        // Opened once, beneath the model's folder, without following links; the size is the open
        // file's, and the bytes are read from that same descriptor.
        let file: SafeFile
        do {
            file = try SafeFile.open(location, beneath: directory.path)
        } catch let e as EmberError {
            throw EmberError(e.code, "external data location '\(location)': \(e.message)")
        }
        let size = file.size
        let bytes = length ?? expected
        guard bytes == expected else {
            throw EmberError(.invalidModel, "external data length \(bytes) does not match the \(expected) bytes the tensor needs")
        }
        guard offset <= size, bytes <= size - offset else {
            throw EmberError(.invalidModel, "external data '\(location)' has \(size) bytes, but the tensor needs \(bytes) from offset \(offset)")
        }
        return try file.read(at: offset, count: bytes)
    }

    static func onnxTypeName(_ code: Int) -> String {
        let names = [
            0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
            8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
            15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
            20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
        ]
        return names[code] ?? "unknown"
    }
}
