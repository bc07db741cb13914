import EmberCUDADriver
import EmberIR

/// A cuBLASLt handle and the workspace its matrix products share, for one context. Products run
/// on one stream at a time per handle, since they share the workspace.
public final class CUBLASLtHandle: @unchecked Sendable {  // Immutable handle; callers serialize runs.
    public let context: CUDAContext
    let handle: cublasLtHandle_t?
    let workspace: CUDABuffer

    /// cuBLASLt's version, such as 130100 for 13.1.0.
    public static func version() throws -> Int {
        try CUDALibrary.cublasLt.require()
        return Int(ember_cublasLtGetVersion())
    }

    public init(_ context: CUDAContext, workspaceBytes: Int = 32 << 20) throws {
        try CUDALibrary.cublasLt.require()
        try context.bind()
        var handle: cublasLtHandle_t?
        try CUDAStatus.checkCUBLAS(ember_cublasLtCreate(&handle), "cublasLtCreate")
        self.context = context
        self.handle = handle
        do {
            workspace = try CUDABuffer(context, bytes: workspaceBytes)
        } catch {
            _ = ember_cublasLtDestroy(handle)
            throw error
        }
    }

    deinit { _ = ember_cublasLtDestroy(handle) }
}

/// cuBLASLt descriptor objects, destroyed with this owner.
final class CUBLASLtDescriptors {
    var matmul: cublasLtMatmulDesc_t?
    var layouts: [cublasLtMatrixLayout_t?] = []
    var preference: cublasLtMatmulPreference_t?

    deinit {
        if let matmul { _ = ember_cublasLtMatmulDescDestroy(matmul) }
        for case let layout? in layouts { _ = ember_cublasLtMatrixLayoutDestroy(layout) }
        if let preference { _ = ember_cublasLtMatmulPreferenceDestroy(preference) }
    }

    func setMatmul<T>(_ attribute: Int32, _ value: T) throws {
        try withUnsafeBytes(of: value) { raw in
            try CUDAStatus.checkCUBLAS(
                ember_cublasLtMatmulDescSetAttribute(matmul, attribute, raw.baseAddress, raw.count),
                "cublasLtMatmulDescSetAttribute")
        }
    }

    /// A column-major layout of `rows` x `cols` with leading dimension `ld`, repeated `batch`
    /// times `stride` elements apart.
    func addLayout(type: Int32, rows: Int, cols: Int, ld: Int, batch: Int, stride: Int) throws -> cublasLtMatrixLayout_t? {
        var layout: cublasLtMatrixLayout_t?
        try CUDAStatus.checkCUBLAS(
            ember_cublasLtMatrixLayoutCreate(&layout, type, UInt64(rows), UInt64(cols), Int64(ld)),
            "cublasLtMatrixLayoutCreate")
        layouts.append(layout)
        if batch > 1 {
            var count = Int32(batch)  // an int32 attribute
            var offset = Int64(stride)  // an int64 attribute
            try CUDAStatus.checkCUBLAS(
                ember_cublasLtMatrixLayoutSetAttribute(layout, EMBER_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, 4),
                "cublasLtMatrixLayoutSetAttribute")
            try CUDAStatus.checkCUBLAS(
                ember_cublasLtMatrixLayoutSetAttribute(layout, EMBER_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &offset, 8),
                "cublasLtMatrixLayoutSetAttribute")
        }
        return layout
    }
}
