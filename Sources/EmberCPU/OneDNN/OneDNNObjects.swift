import EmberDNNL
import EmberIR
import Foundation

/// Memory that a kernel owns for its lifetime (reordered weights, constant operands), 64-byte
/// aligned.
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
    }

    /// A copy of an f32 tensor's elements.
    convenience init(floats tensor: Tensor) {
        let values = tensor.floats()
        self.init(byteCount: values.count * 4)
        values.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    deinit { pointer.deallocate() }
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

    static func size(_ md: dnnl_memory_desc_t) -> Int {
        withUnsafePointer(to: md) { Int(ember_dnnl_memory_desc_get_size($0)) }
    }

    static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        withUnsafePointer(to: a) { a in withUnsafePointer(to: b) { b in ember_dnnl_memory_desc_equal(a, b) != 0 } }
    }
}

/// A primitive's attributes: user-managed scratchpad always, plus post-ops and output scales.
final class PrimitiveAttributes {
    let handle: dnnl_primitive_attr_t
    private var postOps: dnnl_post_ops_t?

    init() throws {
        var attr: dnnl_primitive_attr_t?
        try OneDNN.check(ember_dnnl_primitive_attr_create(&attr), "creating primitive attributes")
        guard let attr else { throw EmberError(.internalError, "[onednn] no primitive attributes") }
        handle = attr
        try OneDNN.check(ember_dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "setting the scratchpad mode")
    }

    deinit {
        _ = ember_dnnl_primitive_attr_destroy(handle)
        if let postOps { _ = ember_dnnl_post_ops_destroy(postOps) }
    }

    /// Multiplies the result by `scale` (before post-ops).
    func setOutputScale(_ scale: Float) throws {
        var s = scale
        try OneDNN.check(ember_dnnl_primitive_attr_set_output_scales(handle, 1, 0, &s), "setting the output scale")
    }

    /// Appends the post-ops in order; binary operands are described by `binaryDescs`, one per
    /// `.binary` post-op.
    func setPostOps(_ ops: [PostOp], binaryDescs: [dnnl_memory_desc_t]) throws {
        guard !ops.isEmpty else { return }
        var list: dnnl_post_ops_t?
        try OneDNN.check(ember_dnnl_post_ops_create(&list), "creating post-ops")
        guard let list else { throw EmberError(.internalError, "[onednn] no post-ops") }
        postOps = list
        var binary = 0
        for op in ops {
            switch op {
            case .eltwise(let e):
                try OneDNN.check(ember_dnnl_post_ops_append_eltwise(list, 1, e.algorithm, e.alpha, e.beta), "appending an eltwise post-op")
            case .sum(let scale, _):
                try OneDNN.check(ember_dnnl_post_ops_append_sum_v2(list, scale, dnnl_data_type_undef), "appending a sum post-op")
            case .binary(let algorithm, _):
                var md = binaryDescs[binary]
                binary += 1
                try OneDNN.check(ember_dnnl_post_ops_append_binary(list, algorithm, &md), "appending a binary post-op")
            }
        }
        try OneDNN.check(ember_dnnl_primitive_attr_set_post_ops(handle, list), "setting post-ops")
    }
}

/// A primitive and its descriptor, made for one set of concrete shapes.
final class Primitive: @unchecked Sendable {
    let descriptor: dnnl_primitive_desc_t
    let handle: dnnl_primitive_t
    /// The bytes of scratchpad memory each execution needs.
    let scratchpadBytes: Int
    let scratchpadDesc: dnnl_memory_desc_t

    /// Creates the primitive for an op descriptor (`dnnl_convolution_desc_t`...).
    convenience init<Desc>(_ desc: Desc, attributes: PrimitiveAttributes, what: String) throws {
        let engine = try OneDNN.requireEngine()
        var pd: dnnl_primitive_desc_t?
        try withUnsafePointer(to: desc) { d in
            try OneDNN.check(ember_dnnl_primitive_desc_create(&pd, UnsafeRawPointer(d), attributes.handle, engine.handle, nil), what)
        }
        guard let pd else { throw EmberError(.internalError, "[onednn] \(what): no descriptor") }
        try self.init(descriptor: pd, what: what)
    }

    /// Takes ownership of `descriptor` and creates its primitive.
    init(descriptor: dnnl_primitive_desc_t, what: String) throws {
        self.descriptor = descriptor
        var primitive: dnnl_primitive_t?
        let status = ember_dnnl_primitive_create(&primitive, descriptor)
        guard status == dnnl_success, let primitive else {
            _ = ember_dnnl_primitive_desc_destroy(descriptor)
            try OneDNN.check(status == dnnl_success ? dnnl_runtime_error : status, what)
            throw EmberError(.internalError, "[onednn] \(what): no primitive")
        }
        handle = primitive
        scratchpadDesc = ember_dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)?.pointee ?? dnnl_memory_desc_t()
        scratchpadBytes = MemoryDesc.size(scratchpadDesc)
    }

    deinit {
        _ = ember_dnnl_primitive_destroy(handle)
        _ = ember_dnnl_primitive_desc_destroy(descriptor)
    }

    /// The memory descriptor the primitive chose for `what` (`dnnl_query_weights_md`...).
    func desc(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t? {
        ember_dnnl_primitive_desc_query_md(descriptor, what, index)?.pointee
    }

    /// The implementation oneDNN picked ("brg:avx512_core", "jit:avx512_core"...), for reports.
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard ember_dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else {
            return "unknown"
        }
        return String(cString: name)
    }

    /// Runs the primitive on `args` (argument kind, descriptor, memory), with scratchpad from
    /// `scratch`, on `stream`.
    func execute(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)], scratch: UnsafeMutableRawPointer?, stream: Stream) throws {
        let engine = try OneDNN.requireEngine()
        var all = args
        if scratchpadBytes > 0, let scratch { all.append((DNNL_ARG_SCRATCHPAD, scratchpadDesc, scratch)) }
        var memories: [dnnl_memory_t] = []
        memories.reserveCapacity(all.count)
        defer { for m in memories { _ = ember_dnnl_memory_destroy(m) } }
        var execArgs: [dnnl_exec_arg_t] = []
        execArgs.reserveCapacity(all.count)
        for (arg, md, pointer) in all {
            var memory: dnnl_memory_t?
            var desc = md
            try OneDNN.check(ember_dnnl_memory_create(&memory, &desc, engine.handle, pointer), "creating a memory object")
            guard let memory else { throw EmberError(.internalError, "[onednn] no memory object") }
            memories.append(memory)
            execArgs.append(dnnl_exec_arg_t(arg: arg, memory: memory))
        }
        try OneDNN.check(ember_dnnl_primitive_execute(handle, stream.handle, Int32(execArgs.count), execArgs), "executing a primitive")
    }
}

/// Runs a reorder once, outside any run: for weights and constants at kernel creation.
enum Reorder {
    /// `source` (described by `from`) copied into a new buffer described by `to`.
    static func copy(_ source: UnsafeRawPointer, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) throws -> AlignedBuffer {
        let output = AlignedBuffer(byteCount: MemoryDesc.size(to))
        let primitive = try make(from: from, to: to)
        let stream = try Stream(try OneDNN.requireEngine())
        let scratch = primitive.scratchpadBytes > 0 ? AlignedBuffer(byteCount: primitive.scratchpadBytes) : nil
        try primitive.execute(
            [(DNNL_ARG_SRC, from, UnsafeMutableRawPointer(mutating: source)), (DNNL_ARG_DST, to, output.pointer)],
            scratch: scratch?.pointer, stream: stream)
        return output
    }

    /// A reorder primitive between two descriptors of the same dims.
    static func make(from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) throws -> Primitive {
        let engine = try OneDNN.requireEngine()
        let attributes = try PrimitiveAttributes()
        var pd: dnnl_primitive_desc_t?
        var (a, b) = (from, to)
        try OneDNN.check(ember_dnnl_reorder_primitive_desc_create(&pd, &a, engine.handle, &b, engine.handle, attributes.handle), "creating a reorder")
        guard let pd else { throw EmberError(.internalError, "[onednn] no reorder descriptor") }
        return try Primitive(descriptor: pd, what: "creating a reorder")
    }
}

/// A constant weight reordered into the formats primitives chose for it: plans for different
/// shapes share one copy while their primitives want the same format (the usual case when only
/// the batch changes) and get their own when it differs.
final class PackedWeights: @unchecked Sendable {
    private let plain: Tensor
    private let lock = NSLock()
    private var packed: [(dnnl_memory_desc_t, AlignedBuffer)] = []

    init(_ plain: Tensor) { self.plain = plain }

    /// The weight in `format`, reordered from `plainDesc` on first use.
    func buffer(_ format: dnnl_memory_desc_t, from plainDesc: dnnl_memory_desc_t) throws -> AlignedBuffer {
        lock.lock()
        defer { lock.unlock() }
        if let (_, buffer) = packed.first(where: { MemoryDesc.equal($0.0, format) }) { return buffer }
        let values = plain.floats()
        let buffer = try values.withUnsafeBytes { try Reorder.copy($0.baseAddress!, from: plainDesc, to: format) }
        packed.append((format, buffer))
        return buffer
    }
}
