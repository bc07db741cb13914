import EmberIR

/// A 2-D pooling window resolved for one input size: per spatial axis (height, width) the
/// kernel, strides, dilations and pads, and the output size.
struct CUDAPoolWindow: Equatable, Sendable {
    var kernel: [Int]
    var strides: [Int]
    var dilations: [Int]
    var padBegin: [Int]
    var padEnd: [Int]
    var output: [Int]
}

/// Writes 2-D pooling kernels over `[N, C, H, W]` tensors, channels-last (the layout between
/// convolutions) or row-major. Each thread computes one output position for `width` channels:
/// with channels-last and C a multiple of 16 bytes' worth, 16-byte loads of neighbouring
/// channels; otherwise one element. Values are combined in f32.
enum CUDAPoolGenerator {
    enum Kind: Equatable, Sendable {
        case max
        /// The mean over the window's input elements, or with `countIncludePad` over the window's
        /// positions inside the padded input.
        case average(countIncludePad: Bool)
    }

    /// `max_pool` or `average_pool` of `x` into `y` (same dtype and layout).
    static func pool(
        _ x: CUDATensorType, _ y: CUDATensorType, window: CUDAPoolWindow, kind: Kind, multiprocessors: Int
    ) -> CUDAGeneratedKernel {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (y.shape[2], y.shape[3])
        let channelsLast = x.layout == .channelsLast
        let vector = CUDAVectorAccess.width(x.dtype)
        let width = channelsLast && c % vector == 0 ? vector : 1
        // Element strides of n, c, h, w in each buffer.
        let inStride = channelsLast ? [h * w * c, 1, w * c, c] : [c * h * w, h * w, w, 1]
        let outStride = channelsLast ? [oh * ow * c, 1, ow * c, c] : [c * oh * ow, oh * ow, ow, 1]
        // Neighbouring threads take neighbouring outputs in memory.
        let order = channelsLast
            ? [("cg", c / width), ("ow", ow), ("oh", oh), ("n", n)]
            : [("ow", ow), ("oh", oh), ("cg", c), ("n", n)]
        let units = n * (c / width) * oh * ow
        let index = max(x.count, y.count) < Int(Int32.max) ? "unsigned int" : "unsigned long long"
        let t = CUDAPrelude.storage(x.dtype)
        var lines = ["\(index) r = g;"]
        for (k, (name, extent)) in order.enumerated() {
            lines.append(k == order.count - 1 ? "const \(index) \(name) = r;" : "const \(index) \(name) = r % \(extent)u; r /= \(extent)u;")
        }
        lines.append("const \(index) c0 = cg * \(width)u;")
        lines.append("const \(t) *base = in0 + n * \(inStride[0])u + c0 * \(inStride[1])u;")
        let identity = kind == .max ? "-EMBER_INF" : "0.0f"
        lines.append("float acc[\(width)];")
        lines.append("#pragma unroll")
        lines.append("for (int e = 0; e < \(width); ++e) acc[e] = \(identity);")
        // Average pools without the padding count the window's input elements.
        let counts = kind == .average(countIncludePad: false)
        if counts { lines.append("int real = 0;") }
        let (kh, kw) = (window.kernel[0], window.kernel[1])
        lines.append("#pragma unroll")
        lines.append("for (int i = 0; i < \(kh); ++i) {")
        lines.append("    const int ih = (int)oh * \(window.strides[0]) - \(window.padBegin[0]) + i * \(window.dilations[0]);")
        lines.append("    if (ih < 0 || ih >= \(h)) continue;")
        lines.append("    #pragma unroll")
        lines.append("    for (int j = 0; j < \(kw); ++j) {")
        lines.append("        const int iw = (int)ow * \(window.strides[1]) - \(window.padBegin[1]) + j * \(window.dilations[1]);")
        lines.append("        if (iw < 0 || iw >= \(w)) continue;")
        lines.append("        const \(t) *p = base + (\(index))ih * \(inStride[2])u + (\(index))iw * \(inStride[3])u;")
        if width > 1 {
            lines += CUDAVectorAccess.load(x.dtype, "p", into: "v", width: width).map { "        " + $0 }
        } else {
            lines.append("        float v[1] = {\(CUDAPrelude.load(x.dtype, "p[0]"))};")
        }
        lines.append("        #pragma unroll")
        lines.append(kind == .max
            ? "        for (int e = 0; e < \(width); ++e) acc[e] = fmaxf(acc[e], v[e]);"
            : "        for (int e = 0; e < \(width); ++e) acc[e] += v[e];")
        if counts { lines.append("        ++real;") }
        lines.append("    }")
        lines.append("}")
        switch kind {
        case .max:
            break
        case .average(let includePad):
            if includePad {
                // Window positions inside the padded input, per axis; their product is the count.
                lines.append("int rows = 0, cols = 0;")
                lines.append("#pragma unroll")
                lines.append("for (int i = 0; i < \(kh); ++i) { const int ih = (int)oh * \(window.strides[0]) - \(window.padBegin[0]) + i * \(window.dilations[0]); rows += (ih >= \(-window.padBegin[0]) && ih < \(h + window.padEnd[0])) ? 1 : 0; }")
                lines.append("#pragma unroll")
                lines.append("for (int j = 0; j < \(kw); ++j) { const int iw = (int)ow * \(window.strides[1]) - \(window.padBegin[1]) + j * \(window.dilations[1]); cols += (iw >= \(-window.padBegin[1]) && iw < \(w + window.padEnd[1])) ? 1 : 0; }")
                lines.append("const int count = rows * cols;")
            } else {
                lines.append("const int count = real;")
            }
            lines.append("#pragma unroll")
            lines.append("for (int e = 0; e < \(width); ++e) acc[e] = count > 0 ? acc[e] / (float)count : 0.0f;")
        }
        lines.append("\(t) *q = out + n * \(outStride[0])u + c0 * \(outStride[1])u + oh * \(outStride[2])u + ow * \(outStride[3])u;")
        if width > 1 {
            lines += CUDAVectorAccess.store(x.dtype, "q", from: "acc", width: width)
        } else {
            lines.append("q[0] = \(CUDAPrelude.store(x.dtype, "acc[0]"));")
        }
        let threads = 256
        let blocks = max(1, min((units + threads - 1) / threads, multiprocessors * 16))
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_pool(const \(t) *__restrict__ in0, \(t) *__restrict__ out) {
                for (\(index) g = blockIdx.x * \(threads)u + threadIdx.x; g < \(units)u; g += gridDim.x * \(threads)u) {
                    \(lines.joined(separator: "\n        "))
                }
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_pool", blocks: blocks, threadsPerBlock: threads)
    }

    /// The mean or max over all of H and W of a channels-last `[N, C, H, W]`, into `[N, C, 1, 1]`
    /// (the same bytes in either layout). A block covers 32 groups of `width` channels; its 8
    /// warps split the H*W positions and combine their partial results in shared memory.
    static func global(_ x: CUDATensorType, kind: Kind) -> CUDAGeneratedKernel {
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        let vector = CUDAVectorAccess.width(x.dtype)
        let width = c % vector == 0 ? vector : 1
        let groups = n * c / width
        let index = x.count < Int(Int32.max) ? "unsigned int" : "unsigned long long"
        let t = CUDAPrelude.storage(x.dtype)
        let identity = kind == .max ? "-EMBER_INF" : "0.0f"
        let combine = { (a: String, b: String) in kind == .max ? "\(a) = fmaxf(\(a), \(b));" : "\(a) += \(b);" }
        let load = width > 1
            ? CUDAVectorAccess.load(x.dtype, "p", into: "v", width: width)
            : ["float v[1] = {\(CUDAPrelude.load(x.dtype, "p[0]"))};"]
        let finish = kind == .max ? "acc[e]" : "acc[e] / \(CUDAPrelude.literal(Double(plane)))"
        let store = width > 1
            ? CUDAVectorAccess.store(x.dtype, "q", from: "acc", width: width)
            : ["q[0] = \(CUDAPrelude.store(x.dtype, "acc[0]"));"]
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(256) ember_global_pool(const \(t) *__restrict__ in0, \(t) *__restrict__ out) {
                __shared__ float part[8][\(32 * width)];
                const unsigned int lane = threadIdx.x % 32u, slice = threadIdx.x / 32u;
                const \(index) g = (\(index))blockIdx.x * 32u + lane;
                float acc[\(width)];
                #pragma unroll
                for (int e = 0; e < \(width); ++e) acc[e] = \(identity);
                if (g < \(groups)u) {
                    const \(t) *base = in0 + (g / \(c / width)u) * \(plane * c)u + (g % \(c / width)u) * \(width)u;
                    for (unsigned int s = slice; s < \(plane)u; s += 8u) {
                        const \(t) *p = base + (\(index))s * \(c)u;
                        \(load.joined(separator: "\n            "))
                        #pragma unroll
                        for (int e = 0; e < \(width); ++e) \(combine("acc[e]", "v[e]"))
                    }
                }
                #pragma unroll
                for (int e = 0; e < \(width); ++e) part[slice][lane * \(width)u + e] = acc[e];
                __syncthreads();
                if (slice == 0 && g < \(groups)u) {
                    for (int s = 1; s < 8; ++s) {
                        #pragma unroll
                        for (int e = 0; e < \(width); ++e) \(combine("acc[e]", "part[s][lane * \(width)u + e]"))
                    }
                    #pragma unroll
                    for (int e = 0; e < \(width); ++e) acc[e] = \(finish);
                    \(t) *q = out + g * \(width)u;
                    \(store.joined(separator: "\n            "))
                }
            }

            """
        return CUDAGeneratedKernel(
            source: source, entry: "ember_global_pool", blocks: (groups + 31) / 32, threadsPerBlock: 256)
    }
}
