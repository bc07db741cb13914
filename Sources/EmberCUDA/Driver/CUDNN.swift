import EmberCUDADriver
import EmberIR

/// A cuDNN handle, destroyed when this object goes away. cuDNN's kernels run on the stream the
/// handle was last given (`bind(to:)`), so one handle serves one stream at a time.
public final class CUDNNHandle: @unchecked Sendable {  // The handle is immutable; callers serialize runs.
    public let context: CUDAContext
    let handle: cudnnHandle_t?

    /// cuDNN's version, such as 91900 for 9.19.0.
    public static func version() throws -> Int {
        try CUDALibrary.cudnn.require()
        return Int(ember_cudnnGetVersion())
    }

    public init(_ context: CUDAContext) throws {
        try CUDALibrary.cudnn.require()
        try context.bind()
        var handle: cudnnHandle_t?
        try CUDAStatus.checkCUDNN(ember_cudnnCreate(&handle), "cudnnCreate")
        self.context = context
        self.handle = handle
    }

    deinit {
        if let handle { _ = ember_cudnnDestroy(handle) }
    }

    /// Makes cuDNN queue its kernels on `stream`.
    func bind(to stream: CUDAStream) throws {
        try context.bind()
        try CUDAStatus.checkCUDNN(ember_cudnnSetStream(handle, stream.handle), "cudnnSetStream")
    }
}

/// One object of cuDNN's backend API (a tensor, an operation, a graph, a plan...), destroyed
/// when this owner goes away. Attributes are set with typed helpers, then `finalize` checks
/// and freezes the object; cuDNN rejects a descriptor that is used before.
final class CUDNNDescriptor {
    let handle: cudnnBackendDescriptor_t?
    /// Descriptors this one refers to, kept alive as long as it is.
    private var retained: [CUDNNDescriptor] = []

    init(_ type: Int32) throws {
        try CUDALibrary.cudnn.require()
        var handle: cudnnBackendDescriptor_t?
        try CUDAStatus.checkCUDNN(ember_cudnnBackendCreateDescriptor(type, &handle), "cudnnBackendCreateDescriptor")
        self.handle = handle
    }

    deinit {
        if let handle { _ = ember_cudnnBackendDestroyDescriptor(handle) }
    }

    func finalize() throws {
        try CUDAStatus.checkCUDNN(ember_cudnnBackendFinalize(handle), "cudnnBackendFinalize")
    }

    /// Sets attribute `name` to `values`, of cuDNN attribute type `type`; `T` must be the C type
    /// cuDNN reads for it (Int64, Float, Bool, Int32 for enums, pointers).
    func set<T>(_ name: Int32, _ type: Int32, _ values: [T]) throws {
        try values.withUnsafeBytes { raw in
            try CUDAStatus.checkCUDNN(
                ember_cudnnBackendSetAttribute(handle, name, type, Int64(values.count), raw.baseAddress),
                "cudnnBackendSetAttribute")
        }
    }

    func set(_ name: Int32, int64 values: [Int]) throws { try set(name, EMBER_CUDNN_TYPE_INT64, values.map(Int64.init)) }

    /// An enum-valued attribute (data type, modes), passed as a 4-byte int.
    func set(_ name: Int32, enum type: Int32, _ value: Int32) throws { try set(name, type, [value]) }

    /// Descriptor-valued attributes; the descriptors stay alive with this one.
    func set(_ name: Int32, descriptors: [CUDNNDescriptor]) throws {
        retained += descriptors
        try set(name, EMBER_CUDNN_TYPE_BACKEND_DESCRIPTOR, descriptors.map(\.handle))
    }

    func set(_ name: Int32, handle cudnn: CUDNNHandle) throws {
        try set(name, EMBER_CUDNN_TYPE_HANDLE, [cudnn.handle])
    }

    /// An int64 attribute of a finalized descriptor.
    func int64(_ name: Int32) throws -> Int {
        var value: Int64 = 0
        var count: Int64 = 0
        try CUDAStatus.checkCUDNN(
            ember_cudnnBackendGetAttribute(handle, name, EMBER_CUDNN_TYPE_INT64, 1, &count, &value),
            "cudnnBackendGetAttribute")
        return Int(value)
    }

    /// Up to `limit` enum values of attribute `name` (4-byte ints, such as numerical notes).
    func enums(_ name: Int32, type: Int32, limit: Int = 16) throws -> [Int32] {
        var values = [Int32](repeating: 0, count: limit)
        var count: Int64 = 0
        try CUDAStatus.checkCUDNN(
            ember_cudnnBackendGetAttribute(handle, name, type, Int64(limit), &count, &values), "cudnnBackendGetAttribute")
        return Array(values.prefix(Int(max(0, min(count, Int64(limit))))))
    }

    /// The descriptors of attribute `name`, each created empty as `type` for cuDNN to fill.
    func descriptors(_ name: Int32, of type: Int32) throws -> [CUDNNDescriptor] {
        var count: Int64 = 0
        try CUDAStatus.checkCUDNN(
            ember_cudnnBackendGetAttribute(handle, name, EMBER_CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nil),
            "cudnnBackendGetAttribute")
        guard count > 0 else { return [] }
        let owners = try (0..<Int(count)).map { _ in try CUDNNDescriptor(type) }
        var handles = owners.map(\.handle)
        var returned: Int64 = 0
        try CUDAStatus.checkCUDNN(
            ember_cudnnBackendGetAttribute(handle, name, EMBER_CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned, &handles),
            "cudnnBackendGetAttribute")
        return Array(owners.prefix(Int(returned)))
    }
}
