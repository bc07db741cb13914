import EmberIR

/// Writes cumulative sums along one axis: `x` viewed as `[outer, size, inner]`, one thread per
/// line of `size` elements, summing in order (float for every float dtype, the integer itself
/// for integers). Position ids made from attention masks are the common case: a few lines of a
/// few hundred elements, where one pass per line is as fast as a parallel scan and exact.
enum CUDAScanGenerator {
    static func cumulativeSum(
        outer: Int, size: Int, inner: Int, dtype: DType, exclusive: Bool, reverse: Bool, multiprocessors: Int
    ) -> CUDAGeneratedKernel {
        let lines = outer * inner
        let index = CUDACopyGenerator.index(max(outer * size * inner, 1))
        let storage = CUDAPrelude.storage(dtype), value = CUDAPrelude.value(dtype)
        let step = reverse ? "\(size - 1)u - k" : "k"
        let update = exclusive
            ? "out[at] = \(CUDAPrelude.store(dtype, "sum")); sum += \(CUDAPrelude.load(dtype, "in0[at]"));"
            : "sum += \(CUDAPrelude.load(dtype, "in0[at]")); out[at] = \(CUDAPrelude.store(dtype, "sum"));"
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(256) ember_cumsum(const \(storage) *__restrict__ in0, \(storage) *__restrict__ out) {
                for (\(index) line = blockIdx.x * 256u + threadIdx.x; line < \(lines)u; line += gridDim.x * 256u) {
                    const \(index) o = line / \(max(inner, 1))u, e = line % \(max(inner, 1))u;
                    \(value) sum = (\(value))0;
                    for (\(index) k = 0; k < \(size)u; ++k) {
                        const \(index) at = (o * \(size)u + (\(step))) * \(inner)u + e;
                        \(update)
                    }
                }
            }

            """
        let blocks = max(1, min((lines + 255) / 256, multiprocessors * 16))
        var kernel = CUDAGeneratedKernel(source: source, entry: "ember_cumsum", blocks: blocks, threadsPerBlock: 256)
        kernel.reads = [0]  // the axis is read when planned
        return kernel
    }
}
