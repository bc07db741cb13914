import EmberDNNL
import EmberIR

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

    /// Whether oneDNN fell back to its reference implementation (`ref:any`): a naive loop, tens
    /// to thousands of times slower than its optimized kernels.
    var isReference: Bool { implementation.hasPrefix("ref") }
}

/// A primitive's arguments as oneDNN memory objects, made once per execution context and plan (or
/// once for a one-off reorder) and pointed at each run's buffers, so a run creates no objects and
/// copies no descriptors.
final class BoundArguments {
    private var memories: [dnnl_memory_t] = []
    private var execArgs: [dnnl_exec_arg_t] = []

    /// Arguments of `kinds` (`DNNL_ARG_SRC`...) and `descs`, plus the primitive's scratchpad.
    init(_ primitive: Primitive, kinds: [Int32], descs: [dnnl_memory_desc_t]) throws {
        let engine = try OneDNN.requireEngine()
        var all = Array(zip(kinds, descs))
        if primitive.scratchpadBytes > 0 { all.append((DNNL_ARG_SCRATCHPAD, primitive.scratchpadDesc)) }
        for (kind, md) in all {
            var memory: dnnl_memory_t?
            var desc = md
            try OneDNN.check(ember_dnnl_memory_create(&memory, &desc, engine.handle, nil), "creating a memory object")
            guard let memory else { throw EmberError(.internalError, "[onednn] no memory object") }
            memories.append(memory)
            execArgs.append(dnnl_exec_arg_t(arg: kind, memory: memory))
        }
    }

    deinit { for memory in memories { _ = ember_dnnl_memory_destroy(memory) } }

    /// Runs `primitive` with each argument at its pointer, in order, and the scratchpad at `scratch`.
    func execute(_ primitive: Primitive, _ pointers: [UnsafeMutableRawPointer], scratch: UnsafeMutableRawPointer?, stream: Stream) throws {
        for (memory, pointer) in zip(memories, pointers) {
            try OneDNN.check(ember_dnnl_memory_set_data_handle(memory, pointer), "pointing a memory object at its buffer")
        }
        if memories.count > pointers.count {
            guard let scratch else { throw EmberError(.internalError, "[onednn] a primitive's scratchpad is missing") }
            try OneDNN.check(ember_dnnl_memory_set_data_handle(memories[pointers.count], scratch), "pointing the scratchpad")
        }
        try OneDNN.check(ember_dnnl_primitive_execute(primitive.handle, stream.handle, Int32(execArgs.count), execArgs), "executing a primitive")
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
        let arguments = try BoundArguments(primitive, kinds: [DNNL_ARG_SRC, DNNL_ARG_DST], descs: [from, to])
        try withExtendedLifetime(scratch) {
            try arguments.execute(primitive, [UnsafeMutableRawPointer(mutating: source), output.pointer], scratch: scratch?.pointer, stream: stream)
        }
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
