/// The register tile of the attention kernel's matrix products: six rows by sixteen columns,
///
///     C[r, 0..<16] = Σ_k A(k, r) B[k, 0..<16]       for r < 6,
///
/// where the six values `A(k, r)` lie at `a + k * aStep + r * aRow` (six rows of a matrix with
/// `aStep = 1`, or one row of a transposed one with `aRow = 1`) and B's sixteen at `b + k * ldb`.
/// Each step loads one vector of B, broadcasts six values of A and does six vector multiply-adds;
/// the six accumulators are twelve AVX2 registers, enough independent sums to keep both
/// multiply-add units busy, and with the B vector and a broadcast they fit the sixteen registers.
enum SmallGemm {
    /// The rows of one tile.
    static let rows = 6

    /// One tile's accumulators, a row each.
    struct Tile {
        var c0 = FloatVector(), c1 = FloatVector(), c2 = FloatVector()
        var c3 = FloatVector(), c4 = FloatVector(), c5 = FloatVector()

        /// Adds `values[r * step]` to row `r`: a bias per row.
        @inline(__always) mutating func add(_ values: UnsafePointer<Float>, step: Int) {
            c0 += values[0]
            c1 += values[step]
            c2 += values[2 * step]
            c3 += values[3 * step]
            c4 += values[4 * step]
            c5 += values[5 * step]
        }

        /// Adds the vector at `rows + r * stride` to row `r`: a bias per row and column.
        @inline(__always) mutating func add(rows p: UnsafePointer<Float>, stride: Int) {
            c0 += VectorLoops.load(p)
            c1 += VectorLoops.load(p + stride)
            c2 += VectorLoops.load(p + 2 * stride)
            c3 += VectorLoops.load(p + 3 * stride)
            c4 += VectorLoops.load(p + 4 * stride)
            c5 += VectorLoops.load(p + 5 * stride)
        }

        /// One step of the product: row `r` gains `b` times the value at `a[r]`.
        @inline(__always) mutating func addProducts(
            _ b: FloatVector, _ a: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                    UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>)
        ) {
            c0 = c0.addingProduct(FloatVector(repeating: a.0.pointee), b)
            c1 = c1.addingProduct(FloatVector(repeating: a.1.pointee), b)
            c2 = c2.addingProduct(FloatVector(repeating: a.2.pointee), b)
            c3 = c3.addingProduct(FloatVector(repeating: a.3.pointee), b)
            c4 = c4.addingProduct(FloatVector(repeating: a.4.pointee), b)
            c5 = c5.addingProduct(FloatVector(repeating: a.5.pointee), b)
        }

        /// The largest of the six rows, lane by lane.
        @inline(__always) func maximum() -> FloatVector {
            VectorMath.maximum(
                VectorMath.maximum(VectorMath.maximum(c0, c1), VectorMath.maximum(c2, c3)), VectorMath.maximum(c4, c5))
        }

        /// Row `r`.
        @inline(__always) func row(_ r: Int) -> FloatVector {
            switch r {
            case 0: c0
            case 1: c1
            case 2: c2
            case 3: c3
            case 4: c4
            default: c5
            }
        }
    }

    /// The tile over `k` steps. With `width` below 16, only B's first `width` columns are read
    /// and the other lanes are zero.
    @inline(__always) static func tile(
        k: Int, a: UnsafePointer<Float>, aStep: Int, aRow: Int, b: UnsafePointer<Float>, ldb: Int, width: Int = 16
    ) -> Tile {
        var t = Tile()
        // Running pointers keep the loop free of index arithmetic and overflow checks.
        var (a0, a1, a2) = (a, a + aRow, a + 2 * aRow)
        var (a3, a4, a5) = (a + 3 * aRow, a + 4 * aRow, a + 5 * aRow)
        var bk = b
        if width == 16 {
            for _ in 0..<k {
                t.addProducts(VectorLoops.load(bk), (a0, a1, a2, a3, a4, a5))
                (a0, a1, a2, a3, a4, a5) = (a0 + aStep, a1 + aStep, a2 + aStep, a3 + aStep, a4 + aStep, a5 + aStep)
                bk += ldb
            }
        } else {
            for _ in 0..<k {
                t.addProducts(VectorLoops.loadPartial(bk, width), (a0, a1, a2, a3, a4, a5))
                (a0, a1, a2, a3, a4, a5) = (a0 + aStep, a1 + aStep, a2 + aStep, a3 + aStep, a4 + aStep, a5 + aStep)
                bk += ldb
            }
        }
        return t
    }

    /// Stores the first `rows` rows of `tile` at `c + r * ldc`, the first `width` columns.
    @inline(__always) static func store(
        _ tile: Tile, rows: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int, width: Int = 16
    ) {
        for r in 0..<min(rows, Self.rows) { store(tile.row(r), c + r * ldc, width) }
    }

    /// Stores the first `rows` rows of `tile` at `c + r * ldc`, row `r` multiplied by `scale[r]`.
    @inline(__always) static func store(
        _ tile: Tile, rows: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int, width: Int = 16,
        scale: UnsafePointer<Float>
    ) {
        for r in 0..<min(rows, Self.rows) { store(tile.row(r) * scale[r], c + r * ldc, width) }
    }

    @inline(__always) private static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>, _ width: Int) {
        if width == 16 { VectorLoops.store(v, p) } else { VectorLoops.storePartial(v, p, width) }
    }
}
