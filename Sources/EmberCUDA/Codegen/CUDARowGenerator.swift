import EmberIR

/// Writes kernels that combine each row of a tensor viewed as `[outer, length, inner]`: softmax,
/// log-softmax, layer norm and reductions. With `inner == 1` one block handles a row, its threads
/// striding along it and combining through warp shuffles; otherwise one thread walks a column.
enum CUDARowGenerator {
    /// Threads per block for rows of `length` elements: enough to cover the row once, at most 512.
    static func threads(for length: Int) -> Int {
        var t = 32
        while t < length && t < 512 { t *= 2 }
        return t
    }

    /// For a row held in registers: threads per block (about four elements each, 32 to 512) and
    /// elements per thread; nil when the row is too long to hold (more than 16 per thread).
    static func cached(_ length: Int) -> (threads: Int, perThread: Int)? {
        let threads = min(512, max(32, ((length + 3) / 4 + 31) / 32 * 32))
        let per = (length + threads - 1) / threads
        return per <= 16 ? (threads, per) : nil
    }

    /// softmax or log-softmax along the middle dim of `[outer, length, inner]`.
    static func softmax(
        _ dtype: DType, outer: Int, length: Int, inner: Int, log: Bool, multiprocessors: Int
    ) -> CUDAGeneratedKernel {
        let t = CUDAPrelude.storage(dtype)
        let ld = { CUDAPrelude.load(dtype, $0) }
        let st = { CUDAPrelude.store(dtype, $0) }
        let result = log ? "v - m - logs" : "expf(v - m) * inv"
        if inner == 1, let shape = cached(length) {
            let (threads, per) = (shape.threads, shape.perThread)
            // The row is read once into registers; element p of a thread is row[threadIdx.x + p * threads].
            let output = log ? "v[p] - m - logs" : "expf(v[p] - m) * inv"
            let source = CUDAPrelude.source + """
                extern "C" __global__ void __launch_bounds__(\(threads)) ember_softmax(const \(t) *__restrict__ x, \(t) *__restrict__ y) {
                    __shared__ float scratch[32];
                    const \(t) *row = x + (unsigned long long)blockIdx.x * \(length)u;
                    \(t) *out = y + (unsigned long long)blockIdx.x * \(length)u;
                    float v[\(per)];
                    float m = -EMBER_INF;
                    #pragma unroll
                    for (int p = 0; p < \(per); ++p) {
                        unsigned int j = threadIdx.x + p * \(threads)u;
                        v[p] = j < \(length)u ? \(ld("row[j]")) : -EMBER_INF;
                        m = fmaxf(m, v[p]);
                    }
                    m = ember_block_max(m, scratch);
                    float s = 0.0f;
                    #pragma unroll
                    for (int p = 0; p < \(per); ++p) s += expf(v[p] - m);
                    s = ember_block_sum(s, scratch);
                    float inv = 1.0f / s, logs = logf(s);
                    #pragma unroll
                    for (int p = 0; p < \(per); ++p) {
                        unsigned int j = threadIdx.x + p * \(threads)u;
                        if (j < \(length)u) out[j] = \(st(output));
                    }
                }

                """
            return CUDAGeneratedKernel(source: source, entry: "ember_softmax", blocks: outer, threadsPerBlock: threads)
        }
        if inner == 1 {
            let threads = threads(for: length)
            let source = CUDAPrelude.source + """
                extern "C" __global__ void __launch_bounds__(\(threads)) ember_softmax(const \(t) *__restrict__ x, \(t) *__restrict__ y) {
                    __shared__ float scratch[32];
                    const \(t) *row = x + (unsigned long long)blockIdx.x * \(length)u;
                    \(t) *out = y + (unsigned long long)blockIdx.x * \(length)u;
                    float m = -EMBER_INF;
                    for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) m = fmaxf(m, \(ld("row[j]")));
                    m = ember_block_max(m, scratch);
                    float s = 0.0f;
                    for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) s += expf(\(ld("row[j]")) - m);
                    s = ember_block_sum(s, scratch);
                    float inv = 1.0f / s, logs = logf(s);
                    for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) {
                        float v = \(ld("row[j]"));
                        out[j] = \(st(result));
                    }
                }

                """
            return CUDAGeneratedKernel(source: source, entry: "ember_softmax", blocks: outer, threadsPerBlock: threads)
        }
        let columns = outer * inner
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(256) ember_softmax(const \(t) *__restrict__ x, \(t) *__restrict__ y) {
                unsigned long long c = (unsigned long long)blockIdx.x * 256u + threadIdx.x;
                if (c >= \(columns)ull) return;
                unsigned long long base = (c / \(inner)u) * \(length * inner)ull + c % \(inner)u;
                float m = -EMBER_INF, s = 0.0f;
                for (unsigned int j = 0; j < \(length)u; ++j) m = fmaxf(m, \(ld("x[base + j * \(inner)ull]")));
                for (unsigned int j = 0; j < \(length)u; ++j) s += expf(\(ld("x[base + j * \(inner)ull]")) - m);
                float inv = 1.0f / s, logs = logf(s);
                for (unsigned int j = 0; j < \(length)u; ++j) {
                    float v = \(ld("x[base + j * \(inner)ull]"));
                    y[base + j * \(inner)ull] = \(st(result));
                }
            }

            """
        return CUDAGeneratedKernel(
            source: source, entry: "ember_softmax", blocks: (columns + 255) / 256, threadsPerBlock: 256)
    }

    /// Layer norm of each of `rows` rows of `length` elements, with a scale and an optional bias
    /// of `length` elements. Mean first, then the variance around it (two passes over the row,
    /// the second from cache), so large means do not cancel.
    static func layerNorm(
        x: DType, scale: DType, bias: DType?, rows: Int, length: Int, epsilon: Double, centered: Bool = true
    ) -> CUDAGeneratedKernel {
        let t = CUDAPrelude.storage(x)
        var parameters = ["const \(t) *__restrict__ x", "const \(CUDAPrelude.storage(scale)) *__restrict__ scale"]
        if let bias { parameters.append("const \(CUDAPrelude.storage(bias)) *__restrict__ bias") }
        parameters.append("\(t) *__restrict__ y")
        let shift = bias.map { " + " + CUDAPrelude.load($0, "bias[j]") } ?? ""
        if let shape = cached(length) {
            let (threads, per) = (shape.threads, shape.perThread)
            let inverse = CUDAPrelude.literal(1 / Double(length))
            let source = CUDAPrelude.source + """
                extern "C" __global__ void __launch_bounds__(\(threads)) ember_layer_norm(\(parameters.joined(separator: ", "))) {
                    __shared__ float scratch[32];
                    const \(t) *row = x + (unsigned long long)blockIdx.x * \(length)u;
                    \(t) *out = y + (unsigned long long)blockIdx.x * \(length)u;
                    float v[\(per)];
                    float s = 0.0f;
                    #pragma unroll
                    for (int p = 0; p < \(per); ++p) {
                        unsigned int j = threadIdx.x + p * \(threads)u;
                        v[p] = j < \(length)u ? \(CUDAPrelude.load(x, "row[j]")) : 0.0f;
                        s += v[p];
                    }
                    float mean = \(centered ? "ember_block_sum(s, scratch) * \(inverse)" : "0.0f");
                    float q = 0.0f;
                    #pragma unroll
                    for (int p = 0; p < \(per); ++p) {
                        unsigned int j = threadIdx.x + p * \(threads)u;
                        float d = j < \(length)u ? v[p] - mean : 0.0f;
                        q += d * d;
                    }
                    float rstd = rsqrtf(ember_block_sum(q, scratch) * \(inverse) + \(CUDAPrelude.literal(epsilon)));
                    #pragma unroll
                    for (int p = 0; p < \(per); ++p) {
                        unsigned int j = threadIdx.x + p * \(threads)u;
                        if (j < \(length)u) out[j] = \(CUDAPrelude.store(x, "(v[p] - mean) * rstd * " + CUDAPrelude.load(scale, "scale[j]") + shift));
                    }
                }

                """
            return CUDAGeneratedKernel(source: source, entry: "ember_layer_norm", blocks: rows, threadsPerBlock: threads)
        }
        let threads = threads(for: length)
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_layer_norm(\(parameters.joined(separator: ", "))) {
                __shared__ float scratch[32];
                const \(t) *row = x + (unsigned long long)blockIdx.x * \(length)u;
                \(t) *out = y + (unsigned long long)blockIdx.x * \(length)u;
                float s = 0.0f;
                for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) s += \(CUDAPrelude.load(x, "row[j]"));
                float mean = \(centered ? "ember_block_sum(s, scratch) * \(CUDAPrelude.literal(1 / Double(length)))" : "0.0f");
                float q = 0.0f;
                for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) {
                    float d = \(CUDAPrelude.load(x, "row[j]")) - mean;
                    q += d * d;
                }
                float rstd = rsqrtf(ember_block_sum(q, scratch) * \(CUDAPrelude.literal(1 / Double(length))) + \(CUDAPrelude.literal(epsilon)));
                for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) {
                    float v = (\(CUDAPrelude.load(x, "row[j]")) - mean) * rstd * \(CUDAPrelude.load(scale, "scale[j]"))\(shift);
                    out[j] = \(CUDAPrelude.store(x, "v"));
                }
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_layer_norm", blocks: rows, threadsPerBlock: threads)
    }

    /// How a reduction combines: the start value, the per-pair combination, the block-wide one,
    /// and the final step applied to the total.
    enum Combine: Sendable {
        case sum, mean, max, min, sumSquare

        var identity: String {
            switch self {
            case .sum, .mean, .sumSquare: "0.0f"
            case .max: "-EMBER_INF"
            case .min: "EMBER_INF"
            }
        }
        func step(_ acc: String, _ v: String) -> String {
            switch self {
            case .sum, .mean: "\(acc) += \(v)"
            case .sumSquare: "\(acc) += \(v) * \(v)"
            case .max: "\(acc) = fmaxf(\(acc), \(v))"
            case .min: "\(acc) = fminf(\(acc), \(v))"
            }
        }
        var block: String {
            switch self {
            case .sum, .mean, .sumSquare: "ember_block_sum"
            case .max: "ember_block_max"
            case .min: "ember_block_min"
            }
        }
        func finish(_ acc: String, length: Int) -> String {
            self == .mean ? "\(acc) * \(CUDAPrelude.literal(1 / Double(length)))" : acc
        }
    }

    /// A reduction of the middle dim of `[outer, length, inner]` to `[outer, inner]`.
    static func reduce(_ dtype: DType, outer: Int, length: Int, inner: Int, combine: Combine) -> CUDAGeneratedKernel {
        let t = CUDAPrelude.storage(dtype)
        let ld = { CUDAPrelude.load(dtype, $0) }
        if inner == 1 {
            let threads = threads(for: length)
            let source = CUDAPrelude.source + """
                extern "C" __global__ void __launch_bounds__(\(threads)) ember_reduce(const \(t) *__restrict__ x, \(t) *__restrict__ y) {
                    __shared__ float scratch[32];
                    const \(t) *row = x + (unsigned long long)blockIdx.x * \(length)u;
                    float acc = \(combine.identity);
                    for (unsigned int j = threadIdx.x; j < \(length)u; j += \(threads)u) { float v = \(ld("row[j]")); \(combine.step("acc", "v")); }
                    acc = \(combine.block)(acc, scratch);
                    if (threadIdx.x == 0) y[blockIdx.x] = \(CUDAPrelude.store(dtype, combine.finish("acc", length: length)));
                }

                """
            return CUDAGeneratedKernel(source: source, entry: "ember_reduce", blocks: outer, threadsPerBlock: threads)
        }
        let columns = outer * inner
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(256) ember_reduce(const \(t) *__restrict__ x, \(t) *__restrict__ y) {
                unsigned long long c = (unsigned long long)blockIdx.x * 256u + threadIdx.x;
                if (c >= \(columns)ull) return;
                unsigned long long base = (c / \(inner)u) * \(length * inner)ull + c % \(inner)u;
                float acc = \(combine.identity);
                for (unsigned int j = 0; j < \(length)u; ++j) { float v = \(ld("x[base + j * \(inner)ull]")); \(combine.step("acc", "v")); }
                y[c] = \(CUDAPrelude.store(dtype, combine.finish("acc", length: length)));
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_reduce", blocks: (columns + 255) / 256, threadsPerBlock: 256)
    }
}
