/// Writes the kernel that copies a 4-D tensor between row-major (NCHW) and channels-last (NHWC)
/// buffers: one thread per element, reading at the source position of each output element.
/// Values are copied bit for bit.
enum CUDALayoutGenerator {
    static func convert(_ type: CUDATensorType, to layout: CUDALayout, multiprocessors: Int) -> Result<CUDAGeneratedKernel, Unsupported> {
        guard type.shape.count == 4, type.layout != layout else {
            return .failure(Unsupported("layout copies take a 4-D tensor between two layouts, given \(type) to \(layout.rawValue)"))
        }
        guard CUDAPrelude.dtypes.contains(type.dtype) else {
            return .failure(Unsupported("layout copies move f32, f16 and bf16, given \(type.dtype)"))
        }
        let (n, c, h, w) = (type.shape[0], type.shape[1], type.shape[2], type.shape[3])
        let count = n * c * h * w
        let index = count < Int(Int32.max) ? "unsigned int" : "unsigned long long"
        // `i` walks the output; the coordinates come out of it innermost first.
        let body: String
        if layout == .channelsLast {
            body = """
                \(index) ch = i % \(c)u, r = i / \(c)u; \(index) x = r % \(w)u; r /= \(w)u; \(index) y = r % \(h)u, b = r / \(h)u;
                        out[i] = in0[((b * \(c)u + ch) * \(h)u + y) * \(w)u + x];
                """
        } else {
            body = """
                \(index) x = i % \(w)u, r = i / \(w)u; \(index) y = r % \(h)u; r /= \(h)u; \(index) ch = r % \(c)u, b = r / \(c)u;
                        out[i] = in0[((b * \(h)u + y) * \(w)u + x) * \(c)u + ch];
                """
        }
        let element = CUDAPrelude.storage(type.dtype)
        let threads = 256
        let blocks = max(1, min((count + threads - 1) / threads, multiprocessors * 16))
        let source = """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_layout(const \(element) *__restrict__ in0, \(element) *__restrict__ out) {
                for (\(index) i = blockIdx.x * \(threads)u + threadIdx.x; i < \(count)u; i += gridDim.x * \(threads)u) {
                    \(body)
                }
            }

            """
        return .success(CUDAGeneratedKernel(source: source, entry: "ember_layout", blocks: blocks, threadsPerBlock: threads))
    }
}
