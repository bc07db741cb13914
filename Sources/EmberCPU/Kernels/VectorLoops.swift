/// Loops that apply a vector function over float arrays sixteen at a time, with the tail loaded
/// into a zero-padded vector, so the functions never read or write past `count`.
@usableFromInline enum VectorLoops {
    @inlinable @inline(__always) static func load(_ p: UnsafePointer<Float>) -> FloatVector {
        UnsafeRawPointer(p).loadUnaligned(as: FloatVector.self)
    }

    @inline(__always) static func store(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: FloatVector.self)
    }

    @inline(__always) static func loadPartial(_ p: UnsafePointer<Float>, _ n: Int) -> FloatVector {
        var v = FloatVector()
        for j in 0..<n { v[j] = p[j] }
        return v
    }

    @inline(__always) static func storePartial(_ v: FloatVector, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0..<n { p[j] = v[j] }
    }

    /// `dst[i] = f(src[i])` for `i < count`; `dst` may be `src`.
    @inline(__always) static func map(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ f: (FloatVector) -> FloatVector
    ) {
        var i = 0
        while i + 16 <= count {
            store(f(load(src + i)), dst + i)
            i += 16
        }
        if i < count { storePartial(f(loadPartial(src + i, count - i)), dst + i, count - i) }
    }

    /// `dst[i] = f(a[i], b[i])` for `i < count`; `dst` may be `a` or `b`.
    @inline(__always) static func map(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
        _ f: (FloatVector, FloatVector) -> FloatVector
    ) {
        var i = 0
        while i + 16 <= count {
            store(f(load(a + i), load(b + i)), dst + i)
            i += 16
        }
        if i < count {
            let n = count - i
            storePartial(f(loadPartial(a + i, n), loadPartial(b + i, n)), dst + i, n)
        }
    }
}

/// Reductions and updates of one contiguous row of floats.
enum RowMath {
    /// The largest element; -infinity for an empty row.
    @inline(__always) static func max(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = FloatVector(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            m = VectorMath.maximum(m, VectorLoops.load(x + i))
            i += 16
        }
        var result = -Float.infinity
        for j in 0..<16 { result = Swift.max(result, m[j]) }
        while i < n {
            result = Swift.max(result, x[i])
            i += 1
        }
        return result
    }

    /// The sum of the elements.
    @inline(__always) static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var s = FloatVector()
        var i = 0
        while i + 16 <= n {
            s += VectorLoops.load(x + i)
            i += 16
        }
        if i < n { s += VectorLoops.loadPartial(x + i, n - i) }
        return s.sum()
    }

    /// `Σ (x - c)^2`.
    @inline(__always) static func squaredDeviation(_ x: UnsafePointer<Float>, _ n: Int, from c: Float) -> Float {
        var s = FloatVector()
        var i = 0
        while i + 16 <= n {
            let d = VectorLoops.load(x + i) - c
            s = s.addingProduct(d, d)
            i += 16
        }
        if i < n {
            let d = (VectorLoops.loadPartial(x + i, n - i) - c).replacing(with: 0, where: laneIndices .>= IntVector(repeating: Int32(n - i)))
            s = s.addingProduct(d, d)
        }
        return s.sum()
    }

    /// `y = e^(x - shift)`, returning the sum of `y`.
    @inline(__always) static func expAndSum(
        _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, shift: Float
    ) -> Float {
        var s = FloatVector()
        var i = 0
        while i + 16 <= n {
            let e = VectorMath.exp(VectorLoops.load(x + i) - shift)
            VectorLoops.store(e, y + i)
            s += e
            i += 16
        }
        var tail: Float = 0
        if i < n {
            let e = VectorMath.exp(VectorLoops.loadPartial(x + i, n - i) - shift)
            VectorLoops.storePartial(e, y + i, n - i)
            for j in 0..<(n - i) { tail += e[j] }
        }
        return s.sum() + tail
    }

    /// `y = x * a + b` with scalars `a` and `b`.
    @inline(__always) static func scale(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ a: Float, _ b: Float) {
        VectorLoops.map(x, y, n) { $0 * a + b }
    }

    static let laneIndices = IntVector(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}
