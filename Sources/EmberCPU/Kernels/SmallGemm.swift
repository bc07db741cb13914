/// A small f32 matrix product for the attention kernel: `C = alpha * A B` for up to four rows of
/// `A` at a time against 16 columns of `B`, with broadcast multiply-adds into four vector
/// accumulators. Matrices are row-major with their own row strides.
enum SmallGemm {
    /// `C[r, 0..<n] = alpha * Σ_k A[r, k] B[k, 0..<n]` for `r < m`.
    static func multiply(
        m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        var r = 0
        while r < m {
            let rows = min(4, m - r)
            // Rows past the last repeat it, so the loop below never branches on the row count.
            let a0 = a + r * lda
            let a1 = a + min(r + 1, m - 1) * lda
            let a2 = a + min(r + 2, m - 1) * lda
            let a3 = a + min(r + 3, m - 1) * lda
            var j = 0
            while j < n {
                let width = min(16, n - j)
                var (c0, c1, c2, c3) = (FloatVector(), FloatVector(), FloatVector(), FloatVector())
                // Running pointers keep the loop free of index arithmetic and overflow checks.
                var (b0, q0, q1, q2, q3) = (b + j, a0, a1, a2, a3)
                if width == 16 {
                    for _ in 0..<k {
                        let bv = VectorLoops.load(b0)
                        c0 = c0.addingProduct(FloatVector(repeating: q0.pointee), bv)
                        c1 = c1.addingProduct(FloatVector(repeating: q1.pointee), bv)
                        c2 = c2.addingProduct(FloatVector(repeating: q2.pointee), bv)
                        c3 = c3.addingProduct(FloatVector(repeating: q3.pointee), bv)
                        (b0, q0, q1, q2, q3) = (b0 + ldb, q0 + 1, q1 + 1, q2 + 1, q3 + 1)
                    }
                } else {
                    for _ in 0..<k {
                        let bv = VectorLoops.loadPartial(b0, width)
                        c0 = c0.addingProduct(FloatVector(repeating: q0.pointee), bv)
                        c1 = c1.addingProduct(FloatVector(repeating: q1.pointee), bv)
                        c2 = c2.addingProduct(FloatVector(repeating: q2.pointee), bv)
                        c3 = c3.addingProduct(FloatVector(repeating: q3.pointee), bv)
                        (b0, q0, q1, q2, q3) = (b0 + ldb, q0 + 1, q1 + 1, q2 + 1, q3 + 1)
                    }
                }
                let out = c + r * ldc + j
                store(c0 * alpha, out, width)
                if rows > 1 { store(c1 * alpha, out + ldc, width) }
                if rows > 2 { store(c2 * alpha, out + 2 * ldc, width) }
                if rows > 3 { store(c3 * alpha, out + 3 * ldc, width) }
                j += 16
            }
            r += 4
        }
    }

    @inline(__always) private static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>, _ width: Int) {
        if width == 16 { VectorLoops.store(v, p) } else { VectorLoops.storePartial(v, p, width) }
    }
}
