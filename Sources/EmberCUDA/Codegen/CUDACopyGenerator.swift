import EmberIR

/// Writes kernels that move elements bit for bit, whatever their dtype (1, 2, 4 or 8 bytes):
/// strided views (slice, expand, transpose), concatenation and gathers. Shapes are constants in
/// the source. Where the innermost run allows, several elements move as one wider unit (up to 16
/// bytes), so a thread's access is one 16-byte load and store.
enum CUDACopyGenerator {
    /// A strided view of the input, copied into a row-major output: output element at
    /// coordinates `c` reads input element `offset + sum(c[k] * strides[k])`.
    struct View: Equatable, Sendable {
        var dims: [Int]
        /// Input element strides per output dim; 0 broadcasts, negative walks backwards.
        var strides: [Int]
        var offset: Int

        /// Drops dims of size 1 and merges neighbours that the input walks as one.
        func simplified() -> View {
            var dims: [Int] = [], strides: [Int] = []
            for (d, s) in zip(self.dims, self.strides) where d != 1 {
                if let last = dims.last, let ls = strides.last, ls == s * d {
                    dims[dims.count - 1] = last * d
                    strides[strides.count - 1] = s
                } else {
                    dims.append(d)
                    strides.append(s)
                }
            }
            return View(dims: dims, strides: strides, offset: offset)
        }

        /// One past the farthest input element the view reads (for choosing index widths).
        var extent: Int {
            offset + 1 + zip(dims, strides).map { max(0, $0 - 1) * abs($1) }.reduce(0, +)
        }

        /// The same view in units of `k` elements, when every run of the innermost dim is whole
        /// units starting on a unit boundary.
        func grouped(_ k: Int) -> View? {
            guard k > 1, let last = dims.last, strides.last == 1, last % k == 0, offset % k == 0,
                strides.dropLast().allSatisfy({ $0 % k == 0 })
            else { return nil }
            return View(
                dims: dims.dropLast() + [last / k], strides: strides.dropLast().map { $0 / k } + [1], offset: offset / k)
        }
    }

    /// The widest unit (at most 16 bytes) a view of `bytes`-byte elements can move in.
    static func widest(_ view: View, bytes: Int) -> (view: View, bytes: Int) {
        for unit in [16, 8, 4, 2] where unit > bytes {
            if let grouped = view.grouped(unit / bytes) { return (grouped, unit) }
        }
        return (view, bytes)
    }

    static func index(_ count: Int) -> String { count < Int(Int32.max) ? "unsigned int" : "unsigned long long" }

    /// Lines declaring `c0 ... c{n-1}` of output unit `i` in `dims`, and `src`, its input offset.
    static func coordinates(_ view: View, index: String, signed: Bool) -> [String] {
        var lines = ["\(index) r = i;"]
        let n = view.dims.count
        for k in stride(from: n - 1, through: 0, by: -1) {
            lines.append(k == 0 ? "const \(index) c0 = r;" : "const \(index) c\(k) = r % \(view.dims[k])u; r /= \(view.dims[k])u;")
        }
        let type = signed ? "long long" : index
        let terms = ["(\(type))\(view.offset)"] + view.strides.enumerated().filter { $0.element != 0 }
            .map { "(\(type))c\($0.offset) * (\(type))(\($0.element))" }
        lines.append("const \(type) src = \(terms.joined(separator: " + "));")
        return lines
    }

    /// Copies the strided `view` of the input (elements of `bytes` bytes) into a row-major
    /// output. When the input's contiguous dim is not the output's last, the copy goes through
    /// shared memory in 32x32 tiles (`transposed`); otherwise each thread moves one unit.
    static func strided(_ view: View, bytes: Int, multiprocessors: Int) -> CUDAGeneratedKernel {
        let simple = view.simplified()
        if let tiled = transposed(simple, bytes: bytes) { return tiled }
        let (units, unit) = widest(simple, bytes: bytes)
        let count = units.dims.reduce(1, *)
        let type = CUDAPrelude.bits(unit)
        let index = index(max(count, units.extent) * (unit / bytes))
        let signed = units.strides.contains { $0 < 0 }
        let lines = coordinates(units, index: index, signed: signed) + ["out[i] = in0[src];"]
        let threads = 256
        let blocks = max(1, min((count + threads - 1) / threads, multiprocessors * 16))
        let source = """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_copy(const \(type) *__restrict__ in0, \(type) *__restrict__ out) {
                for (\(index) i = blockIdx.x * \(threads)u + threadIdx.x; i < \(count)u; i += gridDim.x * \(threads)u) {
                    \(lines.joined(separator: "\n        "))
                }
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_copy", blocks: blocks, threadsPerBlock: threads)
    }

    /// A copy whose input is contiguous along output dim `a` (stride 1) while the output's last
    /// dim steps through the input by `strides.last`: a block reads a 32x32 tile along `a` and
    /// writes it along the last dim, both coalesced. The other dims index the blocks. nil when
    /// the view has no such dim (or the last dim is already contiguous).
    static func transposed(_ view: View, bytes: Int) -> CUDAGeneratedKernel? {
        let n = view.dims.count
        guard n >= 2, view.strides.last != 1, let a = view.strides.firstIndex(of: 1), a < n - 1,
            view.strides.allSatisfy({ $0 > 0 })
        else { return nil }
        let outStrides = (0..<n).map { view.dims[($0 + 1)...].reduce(1, *) }
        let (rows, columns) = (view.dims[a], view.dims[n - 1])
        let tilesA = (rows + 31) / 32, tilesB = (columns + 31) / 32
        let others = (0..<(n - 1)).filter { $0 != a }
        let batches = others.map { view.dims[$0] }.reduce(1, *)
        let count = view.dims.reduce(1, *)
        let index = index(max(count, view.extent))
        let type = CUDAPrelude.bits(bytes)
        var batch = ["\(index) r = blockIdx.x / \(tilesA * tilesB)u;"]
        var inTerms = ["(\(index))\(view.offset)"], outTerms = ["(\(index))0"]
        for (k, d) in others.reversed().enumerated() {
            batch.append(k == others.count - 1 ? "const \(index) d\(d) = r;" : "const \(index) d\(d) = r % \(view.dims[d])u; r /= \(view.dims[d])u;")
            inTerms.append("d\(d) * \(view.strides[d])u")
            outTerms.append("d\(d) * \(outStrides[d])u")
        }
        let source = """
            extern "C" __global__ void __launch_bounds__(256) ember_copy(const \(type) *__restrict__ in0, \(type) *__restrict__ out) {
                __shared__ \(type) tile[32][33];
                const unsigned int t = blockIdx.x % \(tilesA * tilesB)u;
                const unsigned int x0 = (t % \(tilesA)u) * 32u, y0 = (t / \(tilesA)u) * 32u;
                \(batch.joined(separator: "\n    "))
                const \(index) inBase = \(inTerms.joined(separator: " + "));
                const \(index) outBase = \(outTerms.joined(separator: " + "));
                const unsigned int tx = threadIdx.x % 32u, ty = threadIdx.x / 32u;
                for (unsigned int k = ty; k < 32u; k += 8u) {
                    const unsigned int x = x0 + tx, y = y0 + k;
                    if (x < \(rows)u && y < \(columns)u) tile[k][tx] = in0[inBase + (\(index))x + (\(index))y * \(view.strides[n - 1])u];
                }
                __syncthreads();
                for (unsigned int k = ty; k < 32u; k += 8u) {
                    const unsigned int x = x0 + k, y = y0 + tx;
                    if (x < \(rows)u && y < \(columns)u) out[outBase + (\(index))x * \(outStrides[a])u + y] = tile[tx][k];
                }
            }

            """
        return CUDAGeneratedKernel(
            source: source, entry: "ember_copy", blocks: max(1, tilesA * tilesB * batches), threadsPerBlock: 256)
    }

    /// Joins inputs along one dim: input `k` is `[outer, runs[k]]` elements of `bytes` bytes (its
    /// size along the dim times everything after it), the output `[outer, sum(runs)]`.
    static func concat(outer: Int, runs: [Int], bytes: Int, multiprocessors: Int) -> CUDAGeneratedKernel {
        // The widest unit that divides every run.
        var unit = bytes
        for candidate in [16, 8, 4, 2] where candidate > bytes {
            if runs.allSatisfy({ ($0 * bytes) % candidate == 0 }) {
                unit = candidate
                break
            }
        }
        let k = unit / bytes
        let units = runs.map { $0 / k }
        let row = units.reduce(0, +)
        let count = outer * row
        let index = index(count * k)
        let type = CUDAPrelude.bits(unit)
        var lines = ["const \(index) o = i / \(max(row, 1))u, j = i % \(max(row, 1))u;"]
        var start = 0
        for (p, u) in units.enumerated() {
            let condition = p == units.count - 1 ? "" : "if (j < \(start + u)u) "
            let read = "out[i] = in\(p)[o * \(u)u + (j - \(start)u)];"
            lines.append((p == 0 ? "" : "else ") + (condition.isEmpty ? "{ \(read) }" : "\(condition){ \(read) }"))
            start += u
        }
        let parameters = runs.indices.map { "const \(type) *__restrict__ in\($0)" } + ["\(type) *__restrict__ out"]
        let threads = 256
        let blocks = max(1, min((count + threads - 1) / threads, multiprocessors * 16))
        let source = """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_concat(\(parameters.joined(separator: ", "))) {
                for (\(index) i = blockIdx.x * \(threads)u + threadIdx.x; i < \(count)u; i += gridDim.x * \(threads)u) {
                    \(lines.joined(separator: "\n        "))
                }
            }

            """
        return CUDAGeneratedKernel(source: source, entry: "ember_concat", blocks: blocks, threadsPerBlock: threads)
    }

    /// `out[o, p, e] = data[o, indices[p], e]` for data `[outer, size, inner]` (elements of
    /// `bytes` bytes) and `picks` indices of `indexType` (i32 or i64). A negative index counts
    /// from the end; one still out of range yields zeros (the reference rejects it; a kernel
    /// cannot, and must not read outside the buffer).
    static func gather(
        outer: Int, size: Int, inner: Int, picks: Int, bytes: Int, indexType: String, multiprocessors: Int
    ) -> CUDAGeneratedKernel {
        var unit = bytes
        for candidate in [16, 8, 4, 2] where candidate > bytes && (inner * bytes) % candidate == 0 {
            unit = candidate
            break
        }
        let k = unit / bytes
        let innerUnits = inner / k
        let count = outer * picks * innerUnits
        let index = index(max(count * k, outer * size * inner))
        let type = CUDAPrelude.bits(unit)
        let source = """
            extern "C" __global__ void __launch_bounds__(256) ember_gather(const \(type) *__restrict__ in0, const \(indexType) *__restrict__ in1, \(type) *__restrict__ out) {
                for (\(index) i = blockIdx.x * 256u + threadIdx.x; i < \(count)u; i += gridDim.x * 256u) {
                    const \(index) e = i % \(max(innerUnits, 1))u, t = i / \(max(innerUnits, 1))u;
                    const \(index) p = t % \(max(picks, 1))u, o = t / \(max(picks, 1))u;
                    long long j = (long long)in1[p];
                    if (j < 0) j += \(size)ll;
                    out[i] = (j >= 0 && j < \(size)ll) ? in0[(o * \(size)u + (\(index))j) * \(innerUnits)u + e] : \(CUDAPrelude.zeroBits(unit));
                }
            }

            """
        let blocks = max(1, min((count + 255) / 256, multiprocessors * 16))
        return CUDAGeneratedKernel(source: source, entry: "ember_gather", blocks: blocks, threadsPerBlock: 256)
    }

    /// `out[c] = data[c with c[axis] = indices[c]]` (ONNX GatherElements): the output has the
    /// indices' shape, each dim at most the data's. A negative index counts from the end; one
    /// still out of range yields zeros, as in `gather`.
    static func gatherElements(
        data: [Int], indices: [Int], axis: Int, bytes: Int, indexType: String, multiprocessors: Int
    ) -> CUDAGeneratedKernel {
        let count = indices.reduce(1, *)
        let index = index(max(count, data.reduce(1, *)))
        let strides = Tensor.strides(of: data)
        var lines = ["\(index) r = i, src = 0;"]
        for k in stride(from: indices.count - 1, through: 0, by: -1) {
            lines.append("{ const \(index) c = r % \(max(indices[k], 1))u; r /= \(max(indices[k], 1))u;"
                + (k == axis ? " }" : " src += c * \(strides[k])u; }"))
        }
        lines.append("long long j = (long long)in1[i];")
        lines.append("if (j < 0) j += \(data[axis])ll;")
        lines.append("out[i] = (j >= 0 && j < \(data[axis])ll) ? in0[src + (\(index))j * \(strides[axis])u] : \(CUDAPrelude.zeroBits(bytes));")
        let type = CUDAPrelude.bits(bytes)
        let source = """
            extern "C" __global__ void __launch_bounds__(256) ember_gather_elements(const \(type) *__restrict__ in0, const \(indexType) *__restrict__ in1, \(type) *__restrict__ out) {
                for (\(index) i = blockIdx.x * 256u + threadIdx.x; i < \(count)u; i += gridDim.x * 256u) {
                    \(lines.joined(separator: "\n        "))
                }
            }

            """
        let blocks = max(1, min((count + 255) / 256, multiprocessors * 16))
        return CUDAGeneratedKernel(source: source, entry: "ember_gather_elements", blocks: blocks, threadsPerBlock: 256)
    }
}
