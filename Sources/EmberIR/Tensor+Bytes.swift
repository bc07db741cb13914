/// Tensors to and from their raw little-endian bytes: the form of ONNX `raw_data`, `.npy`
/// payloads, external weight files and large constants in the text IR.
extension Tensor {
    /// A tensor from raw little-endian element bytes. The byte count must be exactly
    /// `elementCount(shape) * dtype.byteSize`; that is checked before anything is allocated.
    public init(_ dtype: DType, shape: [Int], bytes: some Collection<UInt8>) throws {
        let n = try TensorSize.elementCount(shape, of: "a tensor of \(dtype)")
        let (expected, overflow) = n.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes.count == expected else {
            throw EmberError(
                .invalidModel,
                "tensor of \(dtype)\(shape) needs \(overflow ? "too many" : String(expected)) bytes, received \(bytes.count)")
        }
        func load<T>(_: T.Type) -> [T] {
            [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                let destination = UnsafeMutableRawBufferPointer(buffer)
                LargeMemory.prepare(destination)
                if let raw = bytes as? UnsafeRawBufferPointer {
                    destination.copyMemory(from: raw)
                } else if bytes.withContiguousStorageIfAvailable({ destination.copyMemory(from: UnsafeRawBufferPointer($0)) }) == nil {
                    destination.copyBytes(from: bytes)
                }
                initialized = n
            }
        }
        let storage: TensorStorage =
            switch dtype {
            case .f64: .f64(load(Double.self))
            case .f32: .f32(load(Float.self))
            case .f16: .f16(load(Float16.self))
            case .bf16: .bf16(load(UInt16.self).map(BFloat16.init(bitPattern:)))
            case .i64: .i64(load(Int64.self))
            case .i32: .i32(load(Int32.self))
            case .i16: .i16(load(Int16.self))
            case .i8: .i8(load(Int8.self))
            case .u64: .u64(load(UInt64.self))
            case .u32: .u32(load(UInt32.self))
            case .u16: .u16(load(UInt16.self))
            case .u8: .u8(load(UInt8.self))
            case .bool: .bool(load(UInt8.self).map { $0 != 0 })
            }
        self.init(shape: shape, storage: storage)
    }

    /// The elements as raw little-endian bytes.
    public func bytes() -> [UInt8] {
        func dump<T>(_ a: [T]) -> [UInt8] { a.withUnsafeBytes { Array($0) } }
        switch storage {
        case .f64(let a): return dump(a)
        case .f32(let a): return dump(a)
        case .f16(let a): return dump(a)
        case .bf16(let a): return dump(a.map(\.bitPattern))
        case .i64(let a): return dump(a)
        case .i32(let a): return dump(a)
        case .i16(let a): return dump(a)
        case .i8(let a): return dump(a)
        case .u64(let a): return dump(a)
        case .u32(let a): return dump(a)
        case .u16(let a): return dump(a)
        case .u8(let a): return a
        case .bool(let a): return a.map { $0 ? 1 : 0 }
        }
    }

    /// Calls `body` with the elements' bytes in place, without copying them: little-endian, in
    /// dtype order (a bool is one byte, 0 or 1).
    public func withUnsafeRawBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .f64(let a): try a.withUnsafeBytes(body)
        case .f32(let a): try a.withUnsafeBytes(body)
        case .f16(let a): try a.withUnsafeBytes(body)
        case .bf16(let a): try a.withUnsafeBytes(body)
        case .i64(let a): try a.withUnsafeBytes(body)
        case .i32(let a): try a.withUnsafeBytes(body)
        case .i16(let a): try a.withUnsafeBytes(body)
        case .i8(let a): try a.withUnsafeBytes(body)
        case .u64(let a): try a.withUnsafeBytes(body)
        case .u32(let a): try a.withUnsafeBytes(body)
        case .u16(let a): try a.withUnsafeBytes(body)
        case .u8(let a): try a.withUnsafeBytes(body)
        case .bool(let a): try a.withUnsafeBytes(body)
        }
    }
}
