import EmberCUDADriver
import EmberIR

/// How a matrix product computes: the element type of its operands and whether f32 operands may
/// be rounded to tf32 on the tensor cores. Accumulation is always in f32.
public enum CUDAMatmulPrecision: String, Sendable, CaseIterable {
    case f32, tf32, f16, bf16

    /// The operands' dtype.
    public var dtype: DType {
        switch self {
        case .f32, .tf32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }

    var dataType: Int32 {
        switch self {
        case .f32, .tf32: EMBER_CUDA_R_32F
        case .f16: EMBER_CUDA_R_16F
        case .bf16: EMBER_CUDA_R_16BF
        }
    }

    var computeType: Int32 { self == .tf32 ? EMBER_CUBLAS_COMPUTE_32F_FAST_TF32 : EMBER_CUBLAS_COMPUTE_32F }
}

/// The activation a matrix product applies after its bias, inside the same kernel.
public enum CUDAMatmulActivation: String, Sendable {
    case none, relu
    /// GELU's tanh approximation (cuBLASLt's only GELU).
    case geluTanh = "gelu_tanh"
}

/// A row-major matrix product `Y[b, M, N] = act(X[b, M, K] @ W[b?, K, N] + bias[N])` through
/// cuBLASLt, with the bias and activation fused into its epilogue. `W` is either one matrix
/// shared by every batch or one per batch; X may be stored transposed (`[K, M]`) and W too
/// (`[N, K]`, as a classifier's weight), which cuBLASLt reads through its operand attributes. The algorithm is chosen by `tune`, which times
/// cuBLASLt's candidates on the device; until then the heuristic's first choice runs.
public final class CUDAMatmul: @unchecked Sendable {  // Set up once; `tune` is called before sharing.
    public struct Shape: Hashable, Sendable, CustomStringConvertible {
        public var batch: Int, m: Int, n: Int, k: Int
        /// Whether W has one matrix per batch (otherwise it is shared).
        public var batchedWeight: Bool
        /// Whether X is stored `[K, M]` and W `[N, K]`.
        public var transposedX: Bool, transposedW: Bool
        public init(
            batch: Int = 1, m: Int, n: Int, k: Int, batchedWeight: Bool = false, transposedX: Bool = false,
            transposedW: Bool = false
        ) {
            (self.batch, self.m, self.n, self.k, self.batchedWeight) = (batch, m, n, k, batchedWeight)
            (self.transposedX, self.transposedW) = (transposedX, transposedW)
        }
        public var description: String {
            "\(batch)x\(m)x\(n)x\(k)" + (transposedX ? " X transposed" : "") + (transposedW ? " W transposed" : "")
        }
        public var flops: Double { 2 * Double(batch) * Double(m) * Double(n) * Double(k) }
    }

    public let handle: CUBLASLtHandle
    public let shape: Shape
    public let precision: CUDAMatmulPrecision
    public let hasBias: Bool
    public let activation: CUDAMatmulActivation
    private let descriptors = CUBLASLtDescriptors()
    private let a: cublasLtMatrixLayout_t?, b: cublasLtMatrixLayout_t?, d: cublasLtMatrixLayout_t?
    /// cuBLASLt's candidates, best guess first, and the one that runs.
    private var candidates: [cublasLtMatmulHeuristicResult_t] = []
    public private(set) var chosen = 0

    public init(
        _ handle: CUBLASLtHandle, shape: Shape, precision: CUDAMatmulPrecision, bias: Bool = false,
        activation: CUDAMatmulActivation = .none, candidates requested: Int = 8
    ) throws {
        guard shape.batch > 0, shape.m > 0, shape.n > 0, shape.k > 0 else {
            throw EmberError(.invalidArgument, "[cublaslt] matrix product of shape \(shape) is empty")
        }
        self.handle = handle
        self.shape = shape
        self.precision = precision
        hasBias = bias
        self.activation = activation
        try handle.context.bind()
        // Column-major view of the row-major product: Y^T[N, M] = W^T[N, K] * X^T[K, M].
        try CUDAStatus.checkCUBLAS(
            ember_cublasLtMatmulDescCreate(&descriptors.matmul, precision.computeType, EMBER_CUDA_R_32F),
            "cublasLtMatmulDescCreate")
        let epilogue: UInt32
        switch (bias, activation) {
        case (false, .none): epilogue = UInt32(EMBER_CUBLASLT_EPILOGUE_DEFAULT)
        case (false, .relu): epilogue = UInt32(EMBER_CUBLASLT_EPILOGUE_RELU)
        case (false, .geluTanh): epilogue = UInt32(EMBER_CUBLASLT_EPILOGUE_GELU)
        case (true, .none): epilogue = UInt32(EMBER_CUBLASLT_EPILOGUE_BIAS)
        case (true, .relu): epilogue = UInt32(EMBER_CUBLASLT_EPILOGUE_RELU_BIAS)
        case (true, .geluTanh): epilogue = UInt32(EMBER_CUBLASLT_EPILOGUE_GELU_BIAS)
        }
        try descriptors.setMatmul(EMBER_CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue)
        let (m, n, k, batch) = (shape.m, shape.n, shape.k, shape.batch)
        let type = precision.dataType
        // A stored [N, K] W is a column-major K x N matrix that cuBLASLt transposes (CUBLAS_OP_T
        // is 1); a stored [K, M] X likewise an M x K one.
        if shape.transposedW { try descriptors.setMatmul(EMBER_CUBLASLT_MATMUL_DESC_TRANSA, Int32(1)) }
        if shape.transposedX { try descriptors.setMatmul(EMBER_CUBLASLT_MATMUL_DESC_TRANSB, Int32(1)) }
        let weightStride = shape.batchedWeight ? k * n : 0
        a = shape.transposedW
            ? try descriptors.addLayout(type: type, rows: k, cols: n, ld: k, batch: batch, stride: weightStride)
            : try descriptors.addLayout(type: type, rows: n, cols: k, ld: n, batch: batch, stride: weightStride)
        b = shape.transposedX
            ? try descriptors.addLayout(type: type, rows: m, cols: k, ld: m, batch: batch, stride: m * k)
            : try descriptors.addLayout(type: type, rows: k, cols: m, ld: k, batch: batch, stride: m * k)
        d = try descriptors.addLayout(type: type, rows: n, cols: m, ld: n, batch: batch, stride: m * n)
        try CUDAStatus.checkCUBLAS(
            ember_cublasLtMatmulPreferenceCreate(&descriptors.preference), "cublasLtMatmulPreferenceCreate")
        var workspace = UInt64(handle.workspace.byteCount)
        try CUDAStatus.checkCUBLAS(
            ember_cublasLtMatmulPreferenceSetAttribute(
                descriptors.preference, EMBER_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, 8),
            "cublasLtMatmulPreferenceSetAttribute")
        var results = [cublasLtMatmulHeuristicResult_t](repeating: cublasLtMatmulHeuristicResult_t(), count: requested)
        var returned: Int32 = 0
        try CUDAStatus.checkCUBLAS(
            ember_cublasLtMatmulAlgoGetHeuristic(
                handle.handle, descriptors.matmul, a, b, d, d, descriptors.preference, Int32(requested), &results,
                &returned),
            "cublasLtMatmulAlgoGetHeuristic")
        candidates = results.prefix(Int(returned)).filter { $0.state == 0 }
        guard !candidates.isEmpty else {
            throw EmberError(
                .unsupported, "[cublaslt] no algorithm for a \(precision) product of shape \(shape) with epilogue \(epilogue)")
        }
    }

    /// How many algorithms cuBLASLt offered.
    public var candidateCount: Int { candidates.count }

    /// Queues the product on `stream`. Buffers hold row-major X, W, bias and Y of the precision's dtype.
    public func run(x: CUDABuffer, w: CUDABuffer, bias: CUDABuffer?, y: CUDABuffer, stream: CUDAStream) throws {
        try run(candidate: chosen, x: x, w: w, bias: bias, y: y, stream: stream)
    }

    private func run(
        candidate: Int, x: CUDABuffer, w: CUDABuffer, bias: CUDABuffer?, y: CUDABuffer, stream: CUDAStream
    ) throws {
        let size = precision.dtype.byteSize
        let s = shape
        let need = [
            ("X", x.byteCount, s.batch * s.m * s.k * size),
            ("W", w.byteCount, (s.batchedWeight ? s.batch : 1) * s.k * s.n * size),
            ("Y", y.byteCount, s.batch * s.m * s.n * size),
        ]
        for (name, have, want) in need where have < want {
            throw EmberError(.invalidArgument, "[cublaslt] \(name) has \(have) bytes, expected \(want)")
        }
        if hasBias {
            guard let bias, bias.byteCount >= s.n * size else {
                throw EmberError(.invalidArgument, "[cublaslt] expected a bias of \(s.n) elements")
            }
            try descriptors.setMatmul(EMBER_CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias.address)
        }
        var alpha: Float = 1
        var beta: Float = 0
        try handle.context.bind()
        var algo = candidates[candidate].algo
        try CUDAStatus.checkCUBLAS(
            ember_cublasLtMatmul(
                handle.handle, descriptors.matmul, &alpha, UnsafeRawPointer(bitPattern: UInt(w.address)), a,
                UnsafeRawPointer(bitPattern: UInt(x.address)), b, &beta,
                UnsafeRawPointer(bitPattern: UInt(y.address)), d, UnsafeMutableRawPointer(bitPattern: UInt(y.address)), d,
                &algo, UnsafeMutableRawPointer(bitPattern: UInt(handle.workspace.address)), handle.workspace.byteCount,
                stream.handle),
            "cublasLtMatmul")
    }

    /// Times every candidate algorithm on these buffers and keeps the fastest; returns each
    /// candidate's median milliseconds (infinity for one that failed to run).
    @discardableResult
    public func tune(
        x: CUDABuffer, w: CUDABuffer, bias: CUDABuffer?, y: CUDABuffer, stream: CUDAStream, iterations: Int = 10
    ) throws -> [Double] {
        var times: [Double] = []
        for candidate in candidates.indices {
            let time = try? stream.medianMilliseconds(warmup: 2, iterations: iterations) {
                try run(candidate: candidate, x: x, w: w, bias: bias, y: y, stream: stream)
            }
            times.append(time ?? .infinity)
        }
        guard let best = times.indices.min(by: { times[$0] < times[$1] }), times[best].isFinite else {
            throw EmberError(.internalError, "[cublaslt] no candidate algorithm ran for shape \(shape)")
        }
        chosen = best
        return times
    }
}
