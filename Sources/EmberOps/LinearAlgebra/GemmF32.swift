import Dispatch
import Foundation

/// A read-only f32 matrix in memory: element `(i, j)` is at `base[i * rowStride + j * colStride]`,
/// so a transposed view is the same buffer with the strides swapped.
struct MatrixViewF32: @unchecked Sendable {
    var base: UnsafePointer<Float>
    var rowStride: Int
    var colStride: Int
}

/// The f32 matrix product that carries the heavy compute of the reference backend
/// (matmul, gemm, convolution, attention).
///
/// A GotoBLAS-style kernel: B is packed into panels `nr` columns wide, A into panels `mr` rows
/// tall, and a register-blocked micro-kernel of `mr x nr` accumulators walks one k block at a
/// time, so the B panel stays in L1 and the A block in L2. Products are split over row blocks
/// (and column chunks when there are few rows) and run on all cores. Accumulation is in f32.
enum GemmF32 {
    static let mr = 6
    static let nr = 16
    static let kc = 256
    static let mc = 72

    /// Cores to spread one product over.
    static let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// `c[batch][i, j] += sum_p a[batch](i, p) * b[batch](p, j)` for each of `batch` products;
    /// the views of product `t` start at `aOffsets[t]`, `bOffsets[t]` and `cOffsets[t]` elements
    /// from the bases (C rows are `ldc` apart, columns contiguous).
    ///
    /// The caller guarantees every addressed element lies inside the buffers.
    static func multiplyAdd(
        m: Int, n: Int, k: Int,
        a: MatrixViewF32, aOffsets: [Int],
        b: MatrixViewF32, bOffsets: [Int],
        c: UnsafeMutablePointer<Float>, cOffsets: [Int], ldc: Int
    ) {
        let batch = cOffsets.count
        guard m > 0, n > 0, k > 0, batch > 0 else { return }
        let cBase = SendablePointer(c)
        if m * n * k < 4096 || (n < nr && m < mr) {
            for t in 0..<batch {
                naive(m: m, n: n, k: k, a: a, aOffset: aOffsets[t], b: b, bOffset: bOffsets[t],
                      c: cBase.pointer + cOffsets[t], ldc: ldc)
            }
            return
        }

        // Pack all of B once: per product, per k block, per nr-wide panel, kc x nr floats.
        let panels = (n + nr - 1) / nr
        let paddedN = panels * nr
        let packedBSize = paddedN * k
        let packedB = UnsafeMutablePointer<Float>.allocate(capacity: packedBSize * batch)
        defer { packedB.deallocate() }
        let packedBase = SendablePointer(packedB)
        let kBlocks = (k + kc - 1) / kc
        DispatchQueue.concurrentPerform(iterations: batch * kBlocks) { job in
            let t = job / kBlocks
            let p0 = (job % kBlocks) * kc
            let depth = min(kc, k - p0)
            packB(
                b, offset: bOffsets[t], p0: p0, depth: depth, n: n,
                into: packedBase.pointer + t * packedBSize + p0 * paddedN)
        }

        // Split into tasks of row blocks and column chunks, enough to keep every core busy.
        let rowBlock = min(mc, roundUp((m + 1) / 2, mr))
        let rowBlocks = (m + rowBlock - 1) / rowBlock
        var split = 1
        while batch * rowBlocks * split < 4 * threads, panels / (split * 2) >= 4 { split *= 2 }
        let chunks = split
        let panelsPerChunk = (panels + chunks - 1) / chunks
        let tasks = batch * rowBlocks * chunks

        DispatchQueue.concurrentPerform(iterations: tasks) { task in
            let t = task / (rowBlocks * chunks)
            let rb = (task / chunks) % rowBlocks
            let chunk = task % chunks
            let i0 = rb * rowBlock
            let rows = min(rowBlock, m - i0)
            let jp0 = chunk * panelsPerChunk
            let jp1 = min(panels, jp0 + panelsPerChunk)
            guard jp0 < jp1 else { return }
            let packedA = UnsafeMutablePointer<Float>.allocate(capacity: roundUp(rows, mr) * kc)
            defer { packedA.deallocate() }
            let cTask = cBase.pointer + cOffsets[t] + i0 * ldc
            let bProduct = packedBase.pointer + t * packedBSize
            var p0 = 0
            while p0 < k {
                let depth = min(kc, k - p0)
                packA(a, offset: aOffsets[t], i0: i0, rows: rows, p0: p0, depth: depth, into: packedA)
                let bBlock = bProduct + p0 * paddedN
                for jp in jp0..<jp1 {
                    let j0 = jp * nr
                    let cols = min(nr, n - j0)
                    let bPanel = UnsafePointer(bBlock + jp * nr * depth)
                    var ir = 0
                    while ir < rows {
                        let aPanel = UnsafePointer(packedA + ir * depth)
                        microKernel(
                            depth: depth, a: aPanel, b: bPanel, c: cTask + ir * ldc + j0, ldc: ldc,
                            rows: min(mr, rows - ir), cols: cols)
                        ir += mr
                    }
                }
                p0 += depth
            }
        }
    }

    /// Straightforward loops for products too small to be worth packing.
    private static func naive(
        m: Int, n: Int, k: Int, a: MatrixViewF32, aOffset: Int, b: MatrixViewF32, bOffset: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let ap = a.base + aOffset
        let bp = b.base + bOffset
        for i in 0..<m {
            let crow = c + i * ldc
            for p in 0..<k {
                let x = ap[i * a.rowStride + p * a.colStride]
                let brow = bp + p * b.rowStride
                for j in 0..<n { crow[j] += x * brow[j * b.colStride] }
            }
        }
    }

    /// Rows `p0..<p0+depth` of B as consecutive panels of `depth x nr`, zero-padded past column `n`.
    private static func packB(
        _ b: MatrixViewF32, offset: Int, p0: Int, depth: Int, n: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let panels = (n + nr - 1) / nr
        for jp in 0..<panels {
            let j0 = jp * nr
            let cols = min(nr, n - j0)
            let panel = out + jp * nr * depth
            for p in 0..<depth {
                let src = b.base + offset + (p0 + p) * b.rowStride + j0 * b.colStride
                let dst = panel + p * nr
                if b.colStride == 1 {
                    for j in 0..<cols { dst[j] = src[j] }
                } else {
                    for j in 0..<cols { dst[j] = src[j * b.colStride] }
                }
                for j in cols..<nr { dst[j] = 0 }
            }
        }
    }

    /// Rows `i0..<i0+rows`, columns `p0..<p0+depth` of A as panels of `depth x mr`, zero-padded.
    private static func packA(
        _ a: MatrixViewF32, offset: Int, i0: Int, rows: Int, p0: Int, depth: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        var ir = 0
        while ir < rows {
            let panelRows = min(mr, rows - ir)
            let panel = out + ir * depth
            for r in 0..<mr {
                if r < panelRows {
                    let src = a.base + offset + (i0 + ir + r) * a.rowStride + p0 * a.colStride
                    if a.colStride == 1 {
                        for p in 0..<depth { panel[p * mr + r] = src[p] }
                    } else {
                        for p in 0..<depth { panel[p * mr + r] = src[p * a.colStride] }
                    }
                } else {
                    for p in 0..<depth { panel[p * mr + r] = 0 }
                }
            }
            ir += mr
        }
    }

    /// `c[0..<rows, 0..<cols] += a_panel * b_panel` with `mr x nr` register accumulators.
    @inline(__always)
    private static func microKernel(
        depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        ldc: Int, rows: Int, cols: Int
    ) {
        typealias V = SIMD16<Float>
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        var ap = a
        var bp = UnsafeRawPointer(b)
        for _ in 0..<depth {
            let bv = bp.loadUnaligned(as: V.self)
            c0 += bv * V(repeating: ap[0])
            c1 += bv * V(repeating: ap[1])
            c2 += bv * V(repeating: ap[2])
            c3 += bv * V(repeating: ap[3])
            c4 += bv * V(repeating: ap[4])
            c5 += bv * V(repeating: ap[5])
            ap += 6
            bp += 16 * MemoryLayout<Float>.stride
        }
        if rows == 6 && cols == 16 {
            add(c0, to: c)
            add(c1, to: c + ldc)
            add(c2, to: c + 2 * ldc)
            add(c3, to: c + 3 * ldc)
            add(c4, to: c + 4 * ldc)
            add(c5, to: c + 5 * ldc)
            return
        }
        let acc = [c0, c1, c2, c3, c4, c5]
        for r in 0..<rows {
            let row = c + r * ldc
            for j in 0..<cols { row[j] += acc[r][j] }
        }
    }

    @inline(__always)
    private static func add(_ v: SIMD16<Float>, to p: UnsafeMutablePointer<Float>) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: raw.loadUnaligned(as: SIMD16<Float>.self) + v, as: SIMD16<Float>.self)
    }

    private static func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }
}

/// A pointer that may cross into `concurrentPerform` tasks; each task writes disjoint elements.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
