/// Sixteen floats, the unit Ember's own kernels compute in (two AVX registers, or one AVX-512).
@usableFromInline typealias FloatVector = SIMD16<Float>
typealias IntVector = SIMD16<Int32>

/// Branch-free math on `FloatVector`s, within a few units in the last place of Foundation's
/// `Float` functions (the tests check 1e-6 relative), so loops over them stay vectorized.
enum VectorMath {
    @inline(__always) static func splat(_ x: Float) -> FloatVector { FloatVector(repeating: x) }

    // Swift's `pointwiseMin`, `clamped`, `squareRoot` and `rounded` on SIMD types run lane by lane
    // (NaN rules, libm calls); comparisons and `replacing(with:where:)` become single vector
    // instructions, so the functions here are written with those.

    /// The larger of each pair of lanes; NaN in `a` stays NaN.
    @inline(__always) static func maximum(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        a.replacing(with: b, where: a .< b)
    }

    /// The smaller of each pair of lanes; NaN in `a` stays NaN.
    @inline(__always) static func minimum(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        a.replacing(with: b, where: a .> b)
    }

    @inline(__always) static func bits(_ x: FloatVector) -> IntVector { unsafeBitCast(x, to: IntVector.self) }
    @inline(__always) static func float(bits: IntVector) -> FloatVector { unsafeBitCast(bits, to: FloatVector.self) }

    /// `x` where `x` is NaN, else `y`: the functions below clamp their input, which loses NaN.
    @inline(__always) static func keepingNaN(_ x: FloatVector, _ y: FloatVector) -> FloatVector {
        y.replacing(with: x, where: x .!= x)
    }

    /// `e^x`: `x = k ln2 + r` with `|r| <= ln2/2`, `e^r` by its Taylor series to `r^7/7!` (the
    /// first omitted term is below 6e-9 relative) and `2^k` written into the exponent bits.
    /// Below -86.6 (results under 2.2e-38) gives 0; above the largest float, infinity.
    @inline(__always) static func exp(_ input: FloatVector) -> FloatVector {
        let x = minimum(maximum(input, splat(-86.6)), splat(88.72))
        // Adding 1.5 * 2^23 rounds x log2(e) to an integer k, kept in the low mantissa bits.
        let shifter = splat(12_582_912)
        let u = x * splat(1.442_695_04) + shifter
        let k = u - shifter
        // r = x - k ln2, with ln2 split so that k times the high part is exact.
        let r = x.addingProduct(k, splat(-0.693_359_375)).addingProduct(k, splat(2.121_944_4e-4))
        var p = splat(1.0 / 5040)
        p = splat(1.0 / 720).addingProduct(p, r)
        p = splat(1.0 / 120).addingProduct(p, r)
        p = splat(1.0 / 24).addingProduct(p, r)
        p = splat(1.0 / 6).addingProduct(p, r)
        p = splat(0.5).addingProduct(p, r)
        p = splat(1).addingProduct(p, r)
        p = splat(1).addingProduct(p, r)
        // 2^(k-1) * 2, so that k = 128 (just below the largest float) stays finite.
        let exponent = (bits(u) &- bits(shifter) &+ 126) &<< 23
        let scaled = p * float(bits: exponent) * 2
        // NaN went through the clamp and the arithmetic as NaN; the bounds fail every comparison.
        return scaled.replacing(with: 0, where: input .< splat(-86.6)).replacing(with: .infinity, where: input .> splat(88.72))
    }

    /// `e^x - 1`, accurate near 0 (Taylor series to `x^7/7!` below 0.35 in magnitude).
    @inline(__always) static func expm1(_ x: FloatVector) -> FloatVector {
        var p = splat(1.0 / 5040)
        p = splat(1.0 / 720).addingProduct(p, x)
        p = splat(1.0 / 120).addingProduct(p, x)
        p = splat(1.0 / 24).addingProduct(p, x)
        p = splat(1.0 / 6).addingProduct(p, x)
        p = splat(0.5).addingProduct(p, x)
        p = splat(1).addingProduct(p, x)
        let small = p * x
        return (exp(x) - 1).replacing(with: small, where: abs(x) .< splat(0.35))
    }

    @inline(__always) static func abs(_ x: FloatVector) -> FloatVector {
        float(bits: bits(x) & IntVector(repeating: 0x7fff_ffff))
    }

    /// `magnitude` with the sign of `sign`.
    @inline(__always) static func withSign(_ magnitude: FloatVector, of sign: FloatVector) -> FloatVector {
        let signBit = IntVector(repeating: Int32(bitPattern: 0x8000_0000))
        return float(bits: (bits(magnitude) & ~signBit) | (bits(sign) & signBit))
    }

    /// `1 / (1 + e^-x)`.
    @inline(__always) static func sigmoid(_ x: FloatVector) -> FloatVector { 1 / (1 + exp(-x)) }

    /// `tanh(x) = e / (e + 2)` with `e = e^2|x| - 1`, exact to a few ulp for every `x`; past 9 in
    /// magnitude the result rounds to ±1.
    @inline(__always) static func tanh(_ x: FloatVector) -> FloatVector {
        let a = minimum(abs(x), splat(9))
        let e = expm1(a + a)
        return keepingNaN(x, withSign(e / (e + 2), of: x))
    }

    /// The natural logarithm: `x = 2^e m` with `m` in `[√½, √2)`, `log m = 2 atanh(s)` with
    /// `s = (m - 1) / (m + 1)`, `|s| <= 0.172`, by its series to `s^11` (error below 1e-10).
    /// Zero gives -infinity, negative numbers NaN; subnormal inputs are not handled.
    @inline(__always) static func log(_ x: FloatVector) -> FloatVector {
        let b = bits(x)
        var e = (b &>> 23) &- 127
        var m = float(bits: (b & IntVector(repeating: 0x007f_ffff)) | IntVector(repeating: 0x3f80_0000))
        let big = m .> splat(1.414_213_56)
        m = m.replacing(with: m * 0.5, where: big)
        e = e.replacing(with: e &+ 1, where: big)
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var p = splat(1.0 / 11)
        p = splat(1.0 / 9).addingProduct(p, s2)
        p = splat(1.0 / 7).addingProduct(p, s2)
        p = splat(1.0 / 5).addingProduct(p, s2)
        p = splat(1.0 / 3).addingProduct(p, s2)
        p = splat(1).addingProduct(p, s2)
        let logM = 2 * s * p
        // The exponent as a float: integers below 2^22 added to 1.5 * 2^23 land in the low bits.
        let eFloat = float(bits: e &+ bits(splat(12_582_912))) - 12_582_912
        let result = logM.addingProduct(eFloat, splat(0.693_147_18))
        return result.replacing(with: -.infinity, where: x .== 0)
            .replacing(with: .nan, where: x .< 0)
            .replacing(with: .infinity, where: x .== .infinity)
            .replacing(with: x, where: x .!= x)
    }

    /// `log(1 + y)` for `y >= 0`, accurate near 0.
    @inline(__always) static func log1p(_ y: FloatVector) -> FloatVector {
        let small = y * (1 - y * (0.5 - y * (1.0 / 3)))
        return log(1 + y).replacing(with: small, where: y .< splat(1e-3))
    }

    /// The Gauss error function: below 0.5 in magnitude its Taylor series to `x^15` (error below
    /// 1e-9 relative); above, Abramowitz and Stegun 7.1.26 (error below 1.5e-7 absolute, so below
    /// 3e-7 relative there).
    @inline(__always) static func erf(_ x: FloatVector) -> FloatVector {
        let a = abs(x)
        let x2 = x * x
        // 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)), n = 0...7.
        var s = splat(-1.0 / 75600)
        s = splat(1.0 / 9360).addingProduct(s, x2)
        s = splat(-1.0 / 1320).addingProduct(s, x2)
        s = splat(1.0 / 216).addingProduct(s, x2)
        s = splat(-1.0 / 42).addingProduct(s, x2)
        s = splat(1.0 / 10).addingProduct(s, x2)
        s = splat(-1.0 / 3).addingProduct(s, x2)
        s = splat(1).addingProduct(s, x2)
        let series = s * x * 1.128_379_17
        let u = 1 / (1 + a * 0.327_591_1)
        var q = splat(1.061_405_429)
        q = splat(-1.453_152_027).addingProduct(q, u)
        q = splat(1.421_413_741).addingProduct(q, u)
        q = splat(-0.284_496_736).addingProduct(q, u)
        q = splat(0.254_829_592).addingProduct(q, u)
        let tail = withSign(1 - q * u * exp(-x2), of: x)
        return keepingNaN(x, tail.replacing(with: series, where: a .< splat(0.5)))
    }

    /// `1 + erf(x)` for GELU, by Abramowitz and Stegun 7.1.26 alone: absolute error below 5e-7
    /// (1.5e-7 of the formula, the rest float rounding). GELU multiplies it by `x / 2`, so its
    /// error stays below 3e-7 of `|x|` and no series is needed near 0.
    @inline(__always) static func onePlusErf(_ x: FloatVector) -> FloatVector {
        let a = abs(x)
        let u = 1 / (1 + a * 0.327_591_1)
        var q = splat(1.061_405_429)
        q = splat(-1.453_152_027).addingProduct(q, u)
        q = splat(1.421_413_741).addingProduct(q, u)
        q = splat(-0.284_496_736).addingProduct(q, u)
        q = splat(0.254_829_592).addingProduct(q, u)
        let e = q * u * exp(-x * x)
        // 1 + erf(x) is 2 - e above 0 and e below, computed without cancellation.
        return keepingNaN(x, (2 - e).replacing(with: e, where: x .< 0))
    }
}
