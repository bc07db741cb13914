import EmberIR
/// Writes the kernel that copies a 4-D tensor between row-major (NCHW) and channels-last (NHWC)
/// buffers. Each image is a matrix transpose, [C, HW] to [HW, C] or back: a block moves one 32x32
/// tile through shared memory, so both the reads and the writes of a warp are contiguous.
/// Values are copied bit for bit.
enum CUDALayoutGenerator {
    static func convert(_ type: CUDATensorType, to layout: CUDALayout, multiprocessors: Int) -> Result<CUDAGeneratedKernel, EmberError> {
        guard type.shape.count == 4, type.layout != layout else {
            return .failure(EmberError(.unsupported, "layout copies take a 4-D tensor between two layouts, given \(type) to \(layout.rawValue)"))
        }
        guard CUDAPrelude.dtypes.contains(type.dtype) else {
            return .failure(EmberError(.unsupported, "layout copies move f32, f16 and bf16, given \(type.dtype)"))
        }
        let (n, c, plane) = (type.shape[0], type.shape[1], type.shape[2] * type.shape[3])
        // Each image of the source is a rows x columns matrix, written transposed.
        let (rows, columns) = layout == .channelsLast ? (c, plane) : (plane, c)
        let tilesAcross = (columns + 31) / 32
        let tilesDown = (rows + 31) / 32
        let blocks = tilesAcross * tilesDown * n
        let index = n * rows * columns < Int(Int32.max) ? "unsigned int" : "unsigned long long"
        let element = CUDAPrelude.storage(type.dtype)
        let source = """
            extern "C" __global__ void __launch_bounds__(256) ember_layout(const \(element) *__restrict__ in0, \(element) *__restrict__ out) {
                __shared__ \(element) tile[32][33];
                unsigned int b = blockIdx.x;
                const unsigned int c0 = (b % \(tilesAcross)u) * 32u; b /= \(tilesAcross)u;
                const unsigned int r0 = (b % \(tilesDown)u) * 32u;
                const \(index) image = (\(index))(b / \(tilesDown)u) * \(rows * columns)u;
                const unsigned int tx = threadIdx.x % 32u, ty = threadIdx.x / 32u;
                for (unsigned int k = ty; k < 32u; k += 8u) {
                    const unsigned int r = r0 + k, c = c0 + tx;
                    if (r < \(rows)u && c < \(columns)u) tile[k][tx] = in0[image + (\(index))r * \(columns)u + c];
                }
                __syncthreads();
                for (unsigned int k = ty; k < 32u; k += 8u) {
                    const unsigned int c = c0 + k, r = r0 + tx;
                    if (r < \(rows)u && c < \(columns)u) out[image + (\(index))c * \(rows)u + r] = tile[tx][k];
                }
            }

            """
        return .success(CUDAGeneratedKernel(source: source, entry: "ember_layout", blocks: blocks, threadsPerBlock: 256))
    }
}
