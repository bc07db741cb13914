import EmberIR

/// One operand of a batch of matrix products: a tensor, where each product's matrix starts
/// (`offsets`, in elements), and its row and column strides.
struct MatrixOperand {
    var tensor: Tensor
    var offsets: [Int]
    var rowStride: Int
    var colStride: Int
}

/// Batches of matrix products in every numeric dtype: the fast f32 kernel for f32, `Double` for
/// the other floating point types (rounded once), wrapping `Int64` for integers.
enum MatrixProduct {
    /// The dtypes matrix products accept.
    static let dtypes: Set<DType> = [.f64, .f32, .f16, .bf16, .i64, .i32, .u64, .u32]

    /// `out[t] = A[t] * B[t]` for every product `t`, as flat storage of `batch x m x n` elements
    /// of `a`'s dtype, rows contiguous.
    ///
    /// The caller checks that every addressed element lies inside the operands.
    static func multiply(_ a: MatrixOperand, _ b: MatrixOperand, m: Int, n: Int, k: Int) -> TensorStorage {
        let batch = a.offsets.count
        let count = batch * m * n
        let dtype = a.tensor.dtype
        if dtype == .f32 {
            let (x, y) = (a.tensor.floats(), b.tensor.floats())
            var out = [Float](repeating: 0, count: count)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    out.withUnsafeMutableBufferPointer { op in
                        guard let xb = xp.baseAddress, let yb = yp.baseAddress, let ob = op.baseAddress else { return }
                        GemmF32.multiplyAdd(
                            m: m, n: n, k: k,
                            a: MatrixViewF32(base: xb, rowStride: a.rowStride, colStride: a.colStride),
                            aOffsets: a.offsets,
                            b: MatrixViewF32(base: yb, rowStride: b.rowStride, colStride: b.colStride),
                            bOffsets: b.offsets,
                            c: ob, cOffsets: (0..<batch).map { $0 * m * n }, ldc: n)
                    }
                }
            }
            return .f32(out)
        }
        if dtype.isFloatingPoint {
            let out = loops(a, b, a.tensor.doubles(), b.tensor.doubles(), m: m, n: n, k: k, zero: 0.0, mul: *, add: +)
            return .fromDoubles(out, as: dtype)
        }
        let out = loops(a, b, a.tensor.int64s(), b.tensor.int64s(), m: m, n: n, k: k, zero: Int64(0), mul: &*, add: &+)
        return .fromInt64s(out, as: dtype)
    }

    @inline(__always)
    private static func loops<T>(
        _ a: MatrixOperand, _ b: MatrixOperand, _ x: [T], _ y: [T], m: Int, n: Int, k: Int, zero: T,
        mul: (T, T) -> T, add: (T, T) -> T
    ) -> [T] {
        let batch = a.offsets.count
        var out = [T](repeating: zero, count: batch * m * n)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                out.withUnsafeMutableBufferPointer { op in
                    for t in 0..<batch {
                        for i in 0..<m {
                            let row = t * m * n + i * n
                            for p in 0..<k {
                                let v = xp[a.offsets[t] + i * a.rowStride + p * a.colStride]
                                let brow = b.offsets[t] + p * b.rowStride
                                for j in 0..<n { op[row + j] = add(op[row + j], mul(v, yp[brow + j * b.colStride])) }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
