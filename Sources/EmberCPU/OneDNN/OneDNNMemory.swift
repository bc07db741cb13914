import EmberDNNL
import EmberIR
import Foundation

/// Memory that a kernel owns for its lifetime (reordered weights, constant operands), 64-byte
/// aligned; or weights it reads where an engine file holds them, kept valid by their owner.
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int
    /// What keeps the memory valid: the `AlignedMemory` the buffer allocated, or the owner of
    /// borrowed bytes.
    private let owner: AnyObject?

    init(byteCount: Int) {
        self.byteCount = byteCount
        let memory = Self.allocate(byteCount)
        pointer = memory.pointer
        owner = memory
    }

    /// `bytes` where they are, kept valid by `owner`: memory that is read and never written (a
    /// mapped engine file's packed weights). They are copied when there is no owner or they are
    /// not 64-byte aligned.
    init(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        byteCount = bytes.count
        if let owner, let base = bytes.baseAddress, Int(bitPattern: base) % 64 == 0 {
            pointer = UnsafeMutableRawPointer(mutating: base)
            self.owner = owner
        } else {
            let memory = Self.allocate(byteCount)
            pointer = memory.pointer
            if let base = bytes.baseAddress { pointer.copyMemory(from: base, byteCount: byteCount) }
            self.owner = memory
        }
    }

    /// 64-byte aligned memory; large buffers huge-page aligned, their pages mapped at once.
    private static func allocate(_ byteCount: Int) -> AlignedMemory {
        let large = byteCount >= LargeMemory.threshold
        let memory = AlignedMemory(byteCount: max(byteCount, 64), alignment: large ? LargeMemory.hugePage : 64)
        if large { LargeMemory.prepare(UnsafeMutableRawBufferPointer(start: memory.pointer, count: byteCount)) }
        return memory
    }

    /// A copy of an f32 tensor's elements.
    convenience init(floats tensor: Tensor) {
        let values = tensor.floats()
        self.init(byteCount: values.count * 4)
        values.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { pointer.copyMemory(from: base, byteCount: bytes.count) }
        }
    }
}

/// Memory descriptors of Ember's layouts.
enum MemoryDesc {
    /// f32 `shape` in `layout`: row-major strides for `.plain`, oneDNN's `aBc16b` family for
    /// `.channelBlocked`.
    static func make(_ shape: [Int], _ layout: CPULayout = .plain) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var dims = shape.map { Int64($0) }
        switch layout {
        case .plain:
            var strides = Tensor.strides(of: shape).map { Int64($0) }
            if dims.isEmpty { dims = [1]; strides = [1] }
            try OneDNN.check(ember_dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dims, dnnl_f32, strides), "describing f32\(shape)")
        case .channelBlocked(let block):
            let tag: dnnl_format_tag_t
            switch (shape.count, block) {
            case (3, 16): tag = dnnl_aBc16b
            case (4, 16): tag = dnnl_aBcd16b
            case (5, 16): tag = dnnl_aBcde16b
            case (3, 8): tag = dnnl_aBc8b
            case (4, 8): tag = dnnl_aBcd8b
            case (5, 8): tag = dnnl_aBcde8b
            default: throw EmberError(.unsupported, "[onednn] no memory format for \(layout) of rank \(shape.count)")
            }
            try OneDNN.check(ember_dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims, dnnl_f32, tag), "describing f32\(shape) \(layout)")
        }
        return md
    }

    /// f32 `shape` with the format left to the primitive (`format_tag_any`).
    static func any(_ shape: [Int]) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let dims = shape.map { Int64($0) }
        try OneDNN.check(ember_dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims, dnnl_f32, dnnl_format_tag_any), "describing f32\(shape)")
        return md
    }

    /// f32 `dims` with explicit element strides.
    static func strided(_ dims: [Int], _ strides: [Int]) throws -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try OneDNN.check(
            ember_dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dims.map(Int64.init), dnnl_f32, strides.map(Int64.init)),
            "describing f32\(dims)")
        return md
    }

    static func size(_ md: dnnl_memory_desc_t) -> Int {
        withUnsafePointer(to: md) { Int(ember_dnnl_memory_desc_get_size($0)) }
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        withUnsafePointer(to: a) { a in withUnsafePointer(to: b) { b in ember_dnnl_memory_desc_equal(a, b) != 0 } }
    }

    /// The descriptor's bytes, as an engine file stores them (oneDNN 2's descriptor is a plain C
    /// struct, the same across its releases).
    static func encoded(_ md: dnnl_memory_desc_t) -> [UInt8] { withUnsafeBytes(of: md) { Array($0) } }

    /// A stored descriptor of `count` f32 elements in a blocked (not Winograd) format, checked
    /// before oneDNN reads it.
    static func decoded(_ bytes: [UInt8], elements count: Int) throws -> dnnl_memory_desc_t {
        guard bytes.count == MemoryLayout<dnnl_memory_desc_t>.size else {
            throw EmberError(.invalidModel, "a packed weight's memory descriptor has \(bytes.count) bytes, expected \(MemoryLayout<dnnl_memory_desc_t>.size)")
        }
        var md = dnnl_memory_desc_t()
        withUnsafeMutableBytes(of: &md) { $0.copyBytes(from: bytes) }
        let dims = withUnsafeBytes(of: md.dims) { Array($0.bindMemory(to: Int64.self)) }
        guard (1...Int(DNNL_MAX_NDIMS)).contains(Int(md.ndims)), md.data_type == dnnl_f32, md.format_kind == dnnl_blocked,
              dims.prefix(Int(md.ndims)).allSatisfy({ $0 > 0 && $0 <= count }),
              Tensor.elementCount(dims.prefix(Int(md.ndims)).map { Int($0) }) == count, isSoundBlocking(md)
        else {
            throw EmberError(.invalidModel, "a packed weight's memory descriptor is not an f32 blocked layout of \(count) elements")
        }
        return md
    }

    /// Whether the blocking of `md` (ndims already checked) is one oneDNN can read without
    /// indexing past its arrays or overflowing its sizes: at most `DNNL_MAX_NDIMS` inner blocks,
    /// each of a real dim and at most 64 wide, at most 2^20 per dim; each dim padded to a multiple
    /// of its blocks and by less than one block; no padding offset, base offset or extra flags
    /// (f32 weights have none); strides within the padded size.
    private static func isSoundBlocking(_ md: dnnl_memory_desc_t) -> Bool {
        func array(_ tuple: dnnl_dims_t) -> [Int64] { withUnsafeBytes(of: tuple) { Array($0.bindMemory(to: Int64.self)) } }
        let ndims = Int(md.ndims)
        let blocking = md.format_desc.blocking
        let blockCount = Int(blocking.inner_nblks)
        guard (0...Int(DNNL_MAX_NDIMS)).contains(blockCount), md.offset0 == 0, md.extra.flags == 0 else { return false }
        let dims = array(md.dims), padded = array(md.padded_dims), offsets = array(md.padded_offsets)
        let strides = array(blocking.strides), blocks = array(blocking.inner_blks), indices = array(blocking.inner_idxs)
        var perDim = [Int64](repeating: 1, count: ndims)
        for i in 0..<blockCount {
            guard (1...64).contains(blocks[i]), (0..<Int64(ndims)).contains(indices[i]) else { return false }
            let (product, overflow) = perDim[Int(indices[i])].multipliedReportingOverflow(by: blocks[i])
            guard !overflow, product <= 1 << 20 else { return false }
            perDim[Int(indices[i])] = product
        }
        var paddedCount: Int64 = 1
        for d in 0..<ndims {
            guard offsets[d] == 0, padded[d] >= dims[d], padded[d] % perDim[d] == 0, padded[d] - dims[d] < perDim[d] else { return false }
            let (product, overflow) = paddedCount.multipliedReportingOverflow(by: padded[d])
            guard !overflow, product <= 1 << 40 else { return false }
            paddedCount = product
        }
        // Each dim's outer blocks times its stride stays within the padded size, so oneDNN's
        // size and offset arithmetic cannot overflow.
        return (0..<ndims).allSatisfy { d in strides[d] >= 0 && strides[d] <= paddedCount / (padded[d] / perDim[d]) }
    }
}

/// A constant weight reordered into the formats primitives chose for it: plans for different
/// shapes share one copy while their primitives want the same format (the usual case when only
/// the batch changes) and get their own when it differs. Once packed, the plain weight is let go
/// where it can be had back: another format, or the plain weight itself, is then reordered from
/// the first packed copy.
final class PackedWeights: @unchecked Sendable {
    private let shape: [Int]
    private let lock = NSLock()
    private var plain: Tensor?
    /// The weight's memory as the graph holds it, described when it is first packed.
    private var plainDesc: dnnl_memory_desc_t?
    private var packed: [(dnnl_memory_desc_t, AlignedBuffer)] = []

    init(_ plain: Tensor) {
        shape = plain.shape
        self.plain = plain
    }

    /// A weight of `shape` held only packed: `buffer` in `format`, the weight itself described by
    /// `plainDesc` (as an engine file stores it).
    init(shape: [Int], packed buffer: AlignedBuffer, format: dnnl_memory_desc_t, plainDesc: dnnl_memory_desc_t) throws {
        guard MemoryDesc.size(format) == buffer.byteCount, MemoryDesc.size(plainDesc) == shape.reduce(1, *) * 4 else {
            throw EmberError(.invalidModel, "a packed weight of shape \(shape) has \(buffer.byteCount) bytes, which its layout does not fill")
        }
        self.shape = shape
        self.plainDesc = plainDesc
        packed = [(format, buffer)]
    }

    /// The copy an engine file stores: the first packed copy, in a blocked format the weight can
    /// be had back from, when the weight is held only packed.
    var stored: (format: dnnl_memory_desc_t, plainDesc: dnnl_memory_desc_t, buffer: AlignedBuffer)? {
        lock.withLock {
            guard plain == nil, let plainDesc, let (format, buffer) = packed.first, format.format_kind == dnnl_blocked else { return nil }
            return (format, plainDesc, buffer)
        }
    }

    /// Whether the weight is held packed only.
    var isPacked: Bool { lock.withLock { plain == nil } }

    /// The number of packed copies in Winograd's transformed formats.
    var winogradCount: Int { lock.withLock { packed.count { $0.0.format_kind == dnnl_format_kind_wino } } }

    /// Whether a copy in `format` exists.
    func holds(_ format: dnnl_memory_desc_t) -> Bool { lock.withLock { packed.contains { MemoryDesc.equal($0.0, format) } } }

    /// The weight in `format`, reordered on first use from the plain weight described by `plainDesc`.
    func buffer(_ format: dnnl_memory_desc_t, from plainDesc: dnnl_memory_desc_t) throws -> AlignedBuffer {
        try lock.withLock {
            if let (_, buffer) = packed.first(where: { MemoryDesc.equal($0.0, format) }) { return buffer }
            if let known = self.plainDesc, !MemoryDesc.equal(known, plainDesc) {
                throw EmberError(.invalidModel, "a packed weight of shape \(shape) was stored for another layout of it")
            }
            self.plainDesc = self.plainDesc ?? plainDesc
            let buffer: AlignedBuffer
            if let plain {
                buffer = try plain.withUnsafeRawBytes { try Reorder.copy($0.baseAddress!, from: plainDesc, to: format) }
            } else {
                let source = try plainBuffer()
                buffer = try withExtendedLifetime(source) { try Reorder.copy(source.pointer, from: plainDesc, to: format) }
            }
            packed.append((format, buffer))
            // The plain weight goes once it can be had back from the first packed copy (oneDNN
            // reorders from most formats, but not from Winograd's transformed weights).
            if packed.count == 1, (try? Reorder.make(from: format, to: plainDesc)) != nil { plain = nil }
            return buffer
        }
    }

    /// The weight as the graph held it.
    func restored() throws -> Tensor {
        try lock.withLock {
            if let plain { return plain }
            let buffer = try plainBuffer()
            return try withExtendedLifetime(buffer) {
                try Tensor(.f32, shape: shape, bytes: UnsafeRawBufferPointer(start: buffer.pointer, count: shape.reduce(1, *) * 4))
            }
        }
    }

    /// The plain weight reordered back from the first packed copy; called under the lock.
    private func plainBuffer() throws -> AlignedBuffer {
        guard let plainDesc, let (format, first) = packed.first else {
            throw EmberError(.internalError, "[onednn] a packed weight with no packed copy")
        }
        return try Reorder.copy(first.pointer, from: format, to: plainDesc)
    }
}
