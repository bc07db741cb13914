import EmberIR

/// Writes one fused attention kernel, flash-attention style: a block owns a tile of queries of
/// one (batch, head), walks the keys and values a tile at a time with an online softmax, and
/// never writes the scores to memory. f16 and bf16 multiply on the tensor cores (`mma.sync`
/// m16n8k16, f32 accumulation); f32, and head sizes the tensor-core kernel does not take, use
/// plain f32 FMA. Softmax is always computed in f32.
enum CUDAAttentionGenerator {
    /// Everything the kernel is specialized for.
    struct Problem: Equatable, Sendable {
        var dtype: DType
        var batch: Int
        var qHeads: Int, kvHeads: Int
        var qSeq: Int, kvSeq: Int
        /// Elements per head of Q and K, and of V and the output.
        var headSize: Int, valueSize: Int
        /// Q, K, V and the output as `[batch, seq, heads * size]` rather than `[batch, heads, seq, size]`.
        var threeD: Bool
        var scale: Double
        var causal: Bool
        var mask: Mask?
    }

    /// An additive float mask, or a boolean one (`true` attends), read in place with broadcast
    /// strides: element (b, h, i, j) is at `b * strides[0] + h * strides[1] + i * strides[2] + j`.
    /// Keys at or past `keys` are masked, as the reference pads a mask shorter than the keys.
    struct Mask: Equatable, Sendable {
        var dtype: DType
        var keys: Int
        var strides: [Int]
    }

    /// Head sizes the kernels take, at most.
    static let largestHeadSize = 128

    /// Whether the tensor-core kernel runs `problem`: f16 or bf16 and head sizes that are whole
    /// multiples of the 16-element steps of the tensor-core instruction.
    static func usesTensorCores(_ p: Problem) -> Bool {
        (p.dtype == .f16 || p.dtype == .bf16) && p.headSize % 16 == 0 && p.valueSize % 16 == 0
    }

    static func generate(_ p: Problem, multiprocessors: Int) -> CUDAGeneratedKernel {
        usesTensorCores(p) ? tensorCore(p, multiprocessors: multiprocessors) : fma(p)
    }

    /// Element strides of one operand, as the kernel walks it.
    struct Strides {
        var batch: Int, head: Int, row: Int
    }

    /// Strides of an operand with `heads` heads of `size` elements over `seq` rows.
    static func strides(_ p: Problem, heads: Int, seq: Int, size: Int) -> Strides {
        p.threeD
            ? Strides(batch: seq * heads * size, head: size, row: heads * size)
            : Strides(batch: heads * seq * size, head: seq * size, row: size)
    }

    /// The kernel's parameters (Q, K, V, the mask when there is one, then the output) and the
    /// lines that compute each block's base pointers from `b`, `h` and `hk`.
    static func parameters(_ p: Problem) -> (list: String, bases: String) {
        let t = CUDAPrelude.storage(p.dtype)
        var list = ["const \(t) *__restrict__ q", "const \(t) *__restrict__ k", "const \(t) *__restrict__ v"]
        if let mask = p.mask {
            let m = mask.dtype == .bool ? "unsigned char" : CUDAPrelude.storage(mask.dtype)
            list.append("const \(m) *__restrict__ mask")
        }
        list.append("\(t) *__restrict__ o")
        let q = strides(p, heads: p.qHeads, seq: p.qSeq, size: p.headSize)
        let k = strides(p, heads: p.kvHeads, seq: p.kvSeq, size: p.headSize)
        let v = strides(p, heads: p.kvHeads, seq: p.kvSeq, size: p.valueSize)
        let o = strides(p, heads: p.qHeads, seq: p.qSeq, size: p.valueSize)
        func base(_ name: String, _ s: Strides, head: String) -> String {
            "\(name) + (unsigned long long)b * \(s.batch)ull + (unsigned long long)\(head) * \(s.head)ull"
        }
        var bases = """
                const \(t) *qb = \(base("q", q, head: "h"));
                const \(t) *kb = \(base("k", k, head: "hk"));
                const \(t) *vb = \(base("v", v, head: "hk"));
                \(t) *ob = \(base("o", o, head: "h"));
            """
        if let mask = p.mask {
            let m = mask.dtype == .bool ? "unsigned char" : CUDAPrelude.storage(mask.dtype)
            bases += "\n    const \(m) *mb = mask + (unsigned long long)b * \(mask.strides[0])ull + (unsigned long long)h * \(mask.strides[1])ull;"
        }
        return (list.joined(separator: ", "), bases)
    }

    /// C statements that turn the raw product `x` of query `row` and key `key` into a score
    /// (scaled, masked, -inf where masked). `row` may lie past the queries: such rows are
    /// computed but not stored, and read no mask. Scores stay in natural units, so a mask of the
    /// smallest float stays finite (in base 2 it would overflow to -inf, and a row masked whole
    /// that way would give zeros rather than the average); `exponent` converts differences.
    static func scoreStatements(_ p: Problem, x: String, row: String, key: String) -> String {
        var lines = ["\(x) *= \(CUDAPrelude.literal(p.scale));"]
        var masked = ["\(key) >= \(p.mask.map { min($0.keys, p.kvSeq) } ?? p.kvSeq)"]
        if p.causal { masked.append("\(key) > \(row)") }
        if let mask = p.mask {
            let at = "mb[(unsigned long long)\(row) * \(mask.strides[2])ull + \(key)]"
            if mask.dtype == .bool {
                masked.append("(\(row) < \(p.qSeq) && !\(at))")
            } else {
                lines.append(
                    "if (\(row) < \(p.qSeq) && \(key) < \(min(mask.keys, p.kvSeq))) \(x) += \(CUDAPrelude.load(mask.dtype, at));")
            }
        }
        lines.append("if (\(masked.joined(separator: " || "))) \(x) = -EMBER_INF;")
        return lines.joined(separator: "\n")
    }

    /// `exp(difference)` of scores, through the faster `exp2f`.
    static func exponent(_ difference: String) -> String {
        "exp2f((\(difference)) * \(CUDAPrelude.literal(1.4426950408889634)))"
    }

    /// How many key tiles of `keyTile` a block whose last query is `lastRow` (an expression) walks.
    static func keyTiles(_ p: Problem, keyTile: Int, lastRow: String) -> String {
        let all = (p.kvSeq + keyTile - 1) / keyTile
        return p.causal ? "min(\(all), (int)(\(lastRow)) / \(keyTile) + 1)" : "\(all)"
    }
}

extension CUDAAttentionGenerator {
    /// f16 or bf16 on the tensor cores. Each warp owns 16 queries, its Q fragments held in
    /// registers; the block loads 64 keys and values at a time into shared memory. For the
    /// `mma.m16n8k16` fragments, lane = 4 * g + t: A holds rows g and g + 8, columns 2t, 2t + 1
    /// (+ 8); B holds column g, rows 2t, 2t + 1 (+ 8); C holds rows g and g + 8, columns 2t, 2t + 1.
    /// The score tile's C fragments are, packed in pairs, exactly the A fragments of P for P V.
    static func tensorCore(_ p: Problem, multiprocessors: Int) -> CUDAGeneratedKernel {
        let d = p.headSize, dv = p.valueSize
        let keyTile = 64
        let (dPad, dvPad) = (d + 8, dv + 8)  // shared rows padded by 16 bytes against bank conflicts
        // Fewer warps per block (smaller query tiles) until the blocks cover the multiprocessors.
        let tilesOf = { (warps: Int) in (p.qSeq + 16 * warps - 1) / (16 * warps) }
        let warps = [4, 2, 1].first { p.batch * p.qHeads * tilesOf($0) >= multiprocessors } ?? 1
        let threads = 32 * warps
        let queryTiles = tilesOf(warps)
        let blocks = p.batch * p.qHeads * queryTiles
        let q = strides(p, heads: p.qHeads, seq: p.qSeq, size: d)
        let k = strides(p, heads: p.kvHeads, seq: p.kvSeq, size: d)
        let v = strides(p, heads: p.kvHeads, seq: p.kvSeq, size: dv)
        let o = strides(p, heads: p.qHeads, seq: p.qSeq, size: dv)
        let kind = p.dtype == .f16 ? "f16" : "bf16"
        let (parameters, bases) = parameters(p)
        let score = { (x: String, row: String, key: String) in
            scoreStatements(p, x: x, row: row, key: key).replacingOccurrences(of: "\n", with: "\n                    ")
        }
        // Buffers come from separate allocations (256-byte aligned) and every row starts at a
        // multiple of 8 elements, so K and V rows are read 16 bytes at a time.
        let source = CUDAPrelude.source + """
            __device__ __forceinline__ void ember_mma(float *c, const unsigned int *a, unsigned int b0, unsigned int b1) {
                asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.\(kind).\(kind).f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                    : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
            }
            // Two floats as one register of two \(kind) values, `lo` in the low half.
            __device__ __forceinline__ unsigned int ember_pack(float lo, float hi) {
                unsigned int r; asm("cvt.rn.\(kind)x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); return r;
            }
            // Tile loads: one 16-byte group of 8 elements per step; rows past the keys are zeros.
            __device__ __forceinline__ void ember_load_tile(unsigned short *tile, const unsigned short *src, int first, int size, int pad, int row) {
                const int groups = size / 8;
                for (int i = threadIdx.x; i < \(keyTile) * groups; i += \(threads)) {
                    int r = i / groups, c = (i - r * groups) * 8;
                    uint4 value = make_uint4(0u, 0u, 0u, 0u);
                    if (first + r < \(p.kvSeq)) value = *reinterpret_cast<const uint4 *>(src + (unsigned long long)(first + r) * row + c);
                    *reinterpret_cast<uint4 *>(tile + r * pad + c) = value;
                }
            }

            extern "C" __global__ void __launch_bounds__(\(threads)) ember_attention(\(parameters)) {
                __shared__ __align__(16) unsigned short ks[\(keyTile * dPad)];
                __shared__ __align__(16) unsigned short vs[\(keyTile * dvPad)];
                const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
                const unsigned int tile = blockIdx.x % \(queryTiles)u, bh = blockIdx.x / \(queryTiles)u;
                const unsigned int h = bh % \(p.qHeads)u, b = bh / \(p.qHeads)u, hk = h / \(p.qHeads / p.kvHeads)u;
            \(bases)
                const int row0 = tile * \(16 * warps) + warp * 16;  // this warp's first query
                const int rows[2] = {row0 + g, row0 + g + 8};

                // Q as A fragments: [chunk of 16 columns][register].
                unsigned int qf[\(d / 16)][4];
                #pragma unroll
                for (int c = 0; c < \(d / 16); ++c) {
                    #pragma unroll
                    for (int half = 0; half < 2; ++half) {
                        const unsigned short *src = qb + (unsigned long long)rows[half] * \(q.row)ull + c * 16 + 2 * t;
                        bool in = rows[half] < \(p.qSeq);
                        qf[c][half] = in ? *reinterpret_cast<const unsigned int *>(src) : 0u;
                        qf[c][2 + half] = in ? *reinterpret_cast<const unsigned int *>(src + 8) : 0u;
                    }
                }
                float acc[\(dv / 8)][4];
                #pragma unroll
                for (int n = 0; n < \(dv / 8); ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
                // Per row (g, g + 8): the running maximum and this lane's partial sum.
                float top[2] = {-EMBER_INF, -EMBER_INF}, sum[2] = {0.0f, 0.0f};

                const int tiles = \(keyTiles(p, keyTile: keyTile, lastRow: "min(\(p.qSeq - 1), (int)tile * \(16 * warps) + \(16 * warps - 1))"));
                for (int kt = 0; kt < tiles; ++kt) {
                    const int first = kt * \(keyTile);
                    __syncthreads();  // every warp is done with the previous tile
                    ember_load_tile(ks, kb, first, \(d), \(dPad), \(k.row));
                    ember_load_tile(vs, vb, first, \(dv), \(dvPad), \(v.row));
                    __syncthreads();

                    // S = Q K^T, 8 keys per fragment; B(col g) = K row g of the fragment.
                    float s[\(keyTile / 8)][4];
                    #pragma unroll
                    for (int n = 0; n < \(keyTile / 8); ++n) {
                        s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
                        const unsigned short *krow = ks + (n * 8 + g) * \(dPad) + 2 * t;
                        #pragma unroll
                        for (int c = 0; c < \(d / 16); ++c) {
                            unsigned int b0 = *reinterpret_cast<const unsigned int *>(krow + c * 16);
                            unsigned int b1 = *reinterpret_cast<const unsigned int *>(krow + c * 16 + 8);
                            ember_mma(s[n], qf[c], b0, b1);
                        }
                    }
                    // Scale and mask; s[n][e] is row rows[e >> 1], key first + 8n + 2t + (e & 1).
                    float tileTop[2] = {-EMBER_INF, -EMBER_INF};
                    #pragma unroll
                    for (int n = 0; n < \(keyTile / 8); ++n) {
                        #pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            const int row = rows[e >> 1], key = first + n * 8 + 2 * t + (e & 1);
                            float x = s[n][e];
                            \(score("x", "row", "key"))
                            s[n][e] = x;
                            tileTop[e >> 1] = fmaxf(tileTop[e >> 1], x);
                        }
                    }
                    // Online softmax: the four lanes of a row share its maximum.
                    float rescale[2], shift[2];
                    #pragma unroll
                    for (int half = 0; half < 2; ++half) {
                        float m = tileTop[half];
                        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
                        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
                        float next = fmaxf(top[half], m);
                        // Rows with every key so far masked keep zeros: no -inf minus -inf.
                        shift[half] = next == -EMBER_INF ? 0.0f : next;
                        rescale[half] = \(exponent("top[half] - shift[half]"));
                        top[half] = next;
                        sum[half] *= rescale[half];
                    }
                    #pragma unroll
                    for (int n = 0; n < \(dv / 8); ++n) {
                        acc[n][0] *= rescale[0]; acc[n][1] *= rescale[0];
                        acc[n][2] *= rescale[1]; acc[n][3] *= rescale[1];
                    }
                    #pragma unroll
                    for (int n = 0; n < \(keyTile / 8); ++n) {
                        #pragma unroll
                        for (int e = 0; e < 4; ++e) {
                            s[n][e] = \(exponent("s[n][e] - shift[e >> 1]"));
                            sum[e >> 1] += s[n][e];
                        }
                    }
                    // O += P V, 16 keys per step. ldmatrix.trans gives V's B fragments from rows of
                    // keys: lanes 8m..8m+7 address matrix m = (keys +8 if m odd, columns +8 if m >= 2).
                    #pragma unroll
                    for (int kc = 0; kc < \(keyTile / 16); ++kc) {
                        unsigned int a[4] = {
                            ember_pack(s[2 * kc][0], s[2 * kc][1]), ember_pack(s[2 * kc][2], s[2 * kc][3]),
                            ember_pack(s[2 * kc + 1][0], s[2 * kc + 1][1]), ember_pack(s[2 * kc + 1][2], s[2 * kc + 1][3])};
                        const unsigned short *vrow = vs + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * \(dvPad) + (lane >> 4) * 8;
                        #pragma unroll
                        for (int n = 0; n < \(dv / 8); n += 2) {
                            unsigned int address = (unsigned int)__cvta_generic_to_shared(vrow + n * 8);
                            unsigned int b[4];
                            asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                                : "=r"(b[0]), "=r"(b[1]), "=r"(b[2]), "=r"(b[3]) : "r"(address));
                            ember_mma(acc[n], a, b[0], b[1]);
                            ember_mma(acc[n + 1], a, b[2], b[3]);
                        }
                    }
                }

                // Each row's total over its four lanes; rows with every key masked give zeros.
                #pragma unroll
                for (int half = 0; half < 2; ++half) {
                    sum[half] += __shfl_xor_sync(0xffffffffu, sum[half], 1);
                    sum[half] += __shfl_xor_sync(0xffffffffu, sum[half], 2);
                    sum[half] = sum[half] > 0.0f ? 1.0f / sum[half] : 0.0f;
                }
                #pragma unroll
                for (int half = 0; half < 2; ++half) {
                    if (rows[half] >= \(p.qSeq)) continue;
                    \(CUDAPrelude.storage(p.dtype)) *dst = ob + (unsigned long long)rows[half] * \(o.row)ull + 2 * t;
                    #pragma unroll
                    for (int n = 0; n < \(dv / 8); ++n) {
                        *reinterpret_cast<unsigned int *>(dst + n * 8) =
                            ember_pack(acc[n][2 * half] * sum[half], acc[n][2 * half + 1] * sum[half]);
                    }
                }
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_attention", blocks: blocks, threadsPerBlock: threads)
    }
}

extension CUDAAttentionGenerator {
    /// Plain f32 FMA, for f32 and for head sizes the tensor-core kernel does not take. A block of
    /// 4 warps owns 16 queries, 4 per warp; it loads 32 keys and values at a time into shared
    /// memory (as f32). Lane j scores key j of the tile against each of its warp's queries; then
    /// each lane accumulates the output columns `lane + 32 e`.
    static func fma(_ p: Problem) -> CUDAGeneratedKernel {
        let d = p.headSize, dv = p.valueSize
        let (keyTile, rowsPerWarp, warps) = (32, 4, 4)
        let blockRows = rowsPerWarp * warps
        let perLane = (dv + 31) / 32
        let vPad = 32 * perLane  // V rows padded with zeros to whole columns of lanes
        let queryTiles = (p.qSeq + blockRows - 1) / blockRows
        let blocks = p.batch * p.qHeads * queryTiles
        let q = strides(p, heads: p.qHeads, seq: p.qSeq, size: d)
        let k = strides(p, heads: p.kvHeads, seq: p.kvSeq, size: d)
        let v = strides(p, heads: p.kvHeads, seq: p.kvSeq, size: dv)
        let o = strides(p, heads: p.qHeads, seq: p.qSeq, size: dv)
        let ld = { CUDAPrelude.load(p.dtype, $0) }
        let (parameters, bases) = parameters(p)
        let score = scoreStatements(p, x: "x", row: "row", key: "key")
            .replacingOccurrences(of: "\n", with: "\n                ")
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(\(32 * warps)) ember_attention(\(parameters)) {
                __shared__ float qs[\(blockRows * d)];
                __shared__ float ks[\(keyTile * (d + 1))];  // rows padded by one: lane j reads row j
                __shared__ float vs[\(keyTile * vPad)];
                const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
                const unsigned int tile = blockIdx.x % \(queryTiles)u, bh = blockIdx.x / \(queryTiles)u;
                const unsigned int h = bh % \(p.qHeads)u, b = bh / \(p.qHeads)u, hk = h / \(p.qHeads / p.kvHeads)u;
            \(bases)
                const int row0 = tile * \(blockRows);
                for (int i = threadIdx.x; i < \(blockRows * d); i += \(32 * warps)) {
                    int r = i / \(d), c = i - r * \(d);
                    qs[i] = row0 + r < \(p.qSeq) ? \(ld("qb[(unsigned long long)(row0 + r) * \(q.row)ull + c]")) : 0.0f;
                }
                float acc[\(rowsPerWarp)][\(perLane)], top[\(rowsPerWarp)], sum[\(rowsPerWarp)];
                #pragma unroll
                for (int r = 0; r < \(rowsPerWarp); ++r) {
                    top[r] = -EMBER_INF;
                    sum[r] = 0.0f;
                    #pragma unroll
                    for (int e = 0; e < \(perLane); ++e) acc[r][e] = 0.0f;
                }

                const int tiles = \(keyTiles(p, keyTile: keyTile, lastRow: "min(\(p.qSeq - 1), row0 + \(blockRows - 1))"));
                for (int kt = 0; kt < tiles; ++kt) {
                    const int first = kt * \(keyTile);
                    __syncthreads();  // every warp is done with the previous tile (and Q is stored)
                    for (int i = threadIdx.x; i < \(keyTile * d); i += \(32 * warps)) {
                        int r = i / \(d), c = i - r * \(d);
                        ks[r * \(d + 1) + c] = first + r < \(p.kvSeq) ? \(ld("kb[(unsigned long long)(first + r) * \(k.row)ull + c]")) : 0.0f;
                    }
                    for (int i = threadIdx.x; i < \(keyTile * vPad); i += \(32 * warps)) {
                        int r = i / \(vPad), c = i - r * \(vPad);
                        vs[i] = first + r < \(p.kvSeq) && c < \(dv) ? \(ld("vb[(unsigned long long)(first + r) * \(v.row)ull + c]")) : 0.0f;
                    }
                    __syncthreads();

                    const int key = first + lane;
                    float pr[\(rowsPerWarp)];
                    #pragma unroll
                    for (int r = 0; r < \(rowsPerWarp); ++r) {
                        const int row = row0 + warp * \(rowsPerWarp) + r;
                        const float *qrow = qs + (warp * \(rowsPerWarp) + r) * \(d), *krow = ks + lane * \(d + 1);
                        float x = 0.0f;
                        #pragma unroll 8
                        for (int c = 0; c < \(d); ++c) x = fmaf(qrow[c], krow[c], x);
                        \(score)
                        // Online softmax over the warp; rows with every key so far masked keep zeros.
                        float next = fmaxf(top[r], ember_warp_max(x));
                        float shift = next == -EMBER_INF ? 0.0f : next;
                        float rescale = \(exponent("top[r] - shift"));
                        top[r] = next;
                        pr[r] = \(exponent("x - shift"));
                        sum[r] = sum[r] * rescale + pr[r];
                        #pragma unroll
                        for (int e = 0; e < \(perLane); ++e) acc[r][e] *= rescale;
                    }
                    #pragma unroll 4
                    for (int j = 0; j < \(keyTile); ++j) {
                        float pj[\(rowsPerWarp)];
                        #pragma unroll
                        for (int r = 0; r < \(rowsPerWarp); ++r) pj[r] = __shfl_sync(0xffffffffu, pr[r], j);
                        #pragma unroll
                        for (int e = 0; e < \(perLane); ++e) {
                            float value = vs[j * \(vPad) + lane + 32 * e];
                            #pragma unroll
                            for (int r = 0; r < \(rowsPerWarp); ++r) acc[r][e] = fmaf(pj[r], value, acc[r][e]);
                        }
                    }
                }

                #pragma unroll
                for (int r = 0; r < \(rowsPerWarp); ++r) {
                    const int row = row0 + warp * \(rowsPerWarp) + r;
                    float total = ember_warp_sum(sum[r]);
                    float inverse = total > 0.0f ? 1.0f / total : 0.0f;
                    if (row >= \(p.qSeq)) continue;
                    #pragma unroll
                    for (int e = 0; e < \(perLane); ++e) {
                        const int c = lane + 32 * e;
                        if (c < \(dv)) ob[(unsigned long long)row * \(o.row)ull + c] = \(CUDAPrelude.store(p.dtype, "acc[r][e] * inverse"));
                    }
                }
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_attention", blocks: blocks, threadsPerBlock: 32 * warps)
    }
}
