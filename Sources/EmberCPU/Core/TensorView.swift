import EmberIR

/// A value's memory during one run: where its bytes are, their dtype, the value's logical shape and
/// the layout of the bytes. A view owns nothing; the execution context or the caller owns the memory.
public struct TensorView: @unchecked Sendable {
    public let data: UnsafeMutableRawPointer
    public let dtype: DType
    public let shape: [Int]
    public let layout: CPULayout

    public init(data: UnsafeMutableRawPointer, dtype: DType, shape: [Int], layout: CPULayout = .plain) {
        self.data = data
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
    }

    /// The number of logical elements.
    public var count: Int { shape.reduce(1, *) }

    /// The number of bytes in memory, padding included.
    public var byteCount: Int { layout.byteCount(shape: shape, dtype: dtype) }

    /// The elements as `T`, which must match the dtype's size.
    public func pointer<T>(as type: T.Type) -> UnsafeMutablePointer<T> {
        precondition(MemoryLayout<T>.stride == dtype.byteSize, "\(T.self) does not fit \(dtype)")
        return data.assumingMemoryBound(to: T.self)
    }

    /// The elements of an f32 view.
    public var floats: UnsafeMutablePointer<Float> { pointer(as: Float.self) }

    /// A plain view's elements, copied into a tensor.
    public func tensor() throws -> Tensor {
        precondition(layout == .plain, "only a plain view's elements are copied into a tensor")
        return try Tensor(dtype, shape: shape, bytes: UnsafeRawBufferPointer(start: data, count: byteCount))
    }

    /// Writes `tensor`'s elements into this plain view, which must hold as many bytes.
    public func copy(from tensor: Tensor) {
        tensor.withUnsafeRawBytes { bytes in
            if let base = bytes.baseAddress { data.copyMemory(from: base, byteCount: bytes.count) }
        }
    }
}
