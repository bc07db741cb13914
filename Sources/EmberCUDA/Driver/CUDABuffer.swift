import EmberCUDADriver
import EmberIR

/// Device memory, freed when the buffer goes away. Copies to and from the host are synchronous:
/// an upload is complete when it returns; a download waits for the legacy default stream but not
/// for Ember's streams, so synchronize the stream that wrote the buffer first.
///
///     let x = try CUDABuffer(context, tensor: input)
///     let y = try CUDABuffer(context, bytes: x.byteCount)
///     ...
///     let out = try y.tensor(.f32, shape: input.shape)
public final class CUDABuffer: @unchecked Sendable {  // Immutable fields; the memory's users order their own access.
    public let context: CUDAContext
    /// The device address; 0 for an empty buffer.
    public let address: CUdeviceptr
    public let byteCount: Int
    /// The buffer this one is a part of, kept alive by it; nil when this buffer owns its memory.
    public let parent: CUDABuffer?

    /// A word that reads as NaN in f32, f16 and bf16.
    public static let poison: UInt32 = 0x7FC0_7FC0

    /// Uninitialized device memory of `bytes` bytes.
    public init(_ context: CUDAContext, bytes: Int) throws {
        guard bytes >= 0 else { throw EmberError(.invalidArgument, "[cuda] cannot allocate \(bytes) bytes") }
        try context.bind()
        var address: CUdeviceptr = 0
        if bytes > 0 { try CUDAStatus.check(ember_cuMemAlloc_v2(&address, bytes), "cuMemAlloc") }
        self.context = context
        self.address = address
        byteCount = bytes
        parent = nil
    }

    /// The `bytes` bytes of `parent` from `offset`: no memory of its own.
    public init(part parent: CUDABuffer, offset: Int, bytes: Int) throws {
        guard offset >= 0, bytes >= 0, offset + bytes <= parent.byteCount else {
            throw EmberError(
                .invalidArgument, "[cuda] bytes \(offset)..<\(offset + bytes) are outside a buffer of \(parent.byteCount)")
        }
        context = parent.context
        address = bytes == 0 ? 0 : parent.address + CUdeviceptr(offset)
        byteCount = bytes
        self.parent = parent
    }

    /// Device memory holding a copy of `tensor`'s elements.
    public convenience init(_ context: CUDAContext, tensor: Tensor) throws {
        let bytes = tensor.bytes()
        try self.init(context, bytes: bytes.count)
        try upload(bytes)
    }

    deinit {
        if address != 0, parent == nil {
            _ = ember_cuCtxSetCurrent(context.handle)
            _ = ember_cuMemFree_v2(address)
        }
    }

    /// Copies `bytes` to the start of the buffer.
    public func upload(_ bytes: [UInt8]) throws {
        guard bytes.count <= byteCount else {
            throw EmberError(.invalidArgument, "[cuda] upload of \(bytes.count) bytes into a buffer of \(byteCount)")
        }
        guard !bytes.isEmpty else { return }
        try context.bind()
        try bytes.withUnsafeBytes { raw in
            try CUDAStatus.check(ember_cuMemcpyHtoD_v2(address, raw.baseAddress, raw.count), "cuMemcpyHtoD")
        }
        // From pageable memory the copy may return before its DMA lands, and Ember's streams do
        // not wait for the legacy stream: wait here, so any stream may read the data next.
        try CUDAStatus.check(ember_cuStreamSynchronize(nil), "cuStreamSynchronize")
    }

    /// Queues a copy of the first `bytes` bytes at `source` (device memory) into this buffer.
    public func copy(from source: CUdeviceptr, bytes: Int, stream: CUDAStream) throws {
        try queueCopy(to: address, from: source, bytes: bytes, stream: stream)
    }

    /// Queues a copy of this buffer's first `bytes` bytes to `destination` (device memory).
    public func copy(to destination: CUdeviceptr, bytes: Int, stream: CUDAStream) throws {
        try queueCopy(to: destination, from: address, bytes: bytes, stream: stream)
    }

    private func queueCopy(to destination: CUdeviceptr, from source: CUdeviceptr, bytes: Int, stream: CUDAStream) throws {
        guard bytes <= byteCount, bytes >= 0 else {
            throw EmberError(.invalidArgument, "[cuda] copy of \(bytes) bytes with a buffer of \(byteCount)")
        }
        guard bytes > 0 else { return }
        try context.bind()
        try CUDAStatus.check(ember_cuMemcpyDtoDAsync_v2(destination, source, bytes, stream.handle), "cuMemcpyDtoDAsync")
    }

    /// The first `count` bytes of the buffer (all of it by default).
    public func download(count: Int? = nil) throws -> [UInt8] {
        let n = count ?? byteCount
        guard n <= byteCount, n >= 0 else {
            throw EmberError(.invalidArgument, "[cuda] download of \(n) bytes from a buffer of \(byteCount)")
        }
        guard n > 0 else { return [] }
        try context.bind()
        var bytes = [UInt8](repeating: 0, count: n)
        try bytes.withUnsafeMutableBytes { raw in
            try CUDAStatus.check(ember_cuMemcpyDtoH_v2(raw.baseAddress, address, raw.count), "cuMemcpyDtoH")
        }
        return bytes
    }

    /// The buffer's contents read as a tensor of `dtype` and `shape`.
    public func tensor(_ dtype: DType, shape: [Int]) throws -> Tensor {
        guard let count = Tensor.elementCount(shape) else {
            throw EmberError(.invalidArgument, "[cuda] shape \(shape) has too many elements")
        }
        return try Tensor(dtype, shape: shape, bytes: download(count: count * dtype.byteSize))
    }

    /// Sets every 4-byte word of the buffer to `word`; `CUDABuffer.poison` (a NaN as f32, and two
    /// NaNs as f16 or bf16) makes unwritten output elements show.
    public func fill(word: UInt32 = CUDABuffer.poison) throws {
        guard byteCount >= 4 else { return }
        try context.bind()
        try CUDAStatus.check(ember_cuMemsetD32_v2(address, word, byteCount / 4), "cuMemsetD32")
    }
}
