import EmberIR
import Foundation

// Every unary op lives in this file with the loops of `UnaryMath`: EmberOps builds file by file in
// debug builds, and only there do the loops specialize for each op and inline its `apply`.

/// A `UnaryElementwise` op with typed loops: f32 and f64 run on their own storage, and unsigned
/// 64-bit integers get their own entry point, since they do not fit `Int64`.
///
/// Override `apply(_: Float)` only where computing in `Float` gives the same result as computing
/// in `Double` and rounding once (`+ - * /`, `sqrt`, comparisons, rounding).
public protocol UnaryMath: UnaryElementwise {
    func apply(_ x: Float) -> Float
    func apply(_ x: UInt64) -> UInt64
}

extension UnaryMath {
    public func apply(_ x: Float) -> Float { Float(apply(Double(x))) }
    public func apply(_ x: UInt64) -> UInt64 { UInt64(bitPattern: apply(Int64(bitPattern: x))) }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name)
        return [map(x)]
    }

    /// The op applied to every element of `x`, whose dtype the caller has checked.
    func map(_ x: Tensor) -> Tensor {
        switch x.storage {
        case .f32(let v): return Tensor(shape: x.shape, storage: .f32(mapElements(v) { apply($0) }))
        case .f64(let v): return Tensor(shape: x.shape, storage: .f64(mapElements(v) { apply($0) }))
        case .u64(let v): return Tensor(shape: x.shape, storage: .u64(mapElements(v) { apply($0) }))
        case .f16, .bf16: return Tensor(x.dtype, shape: x.shape, doubles: mapElements(x.doubles()) { apply($0) })
        default: return Tensor(x.dtype, shape: x.shape, int64s: mapElements(x.int64s()) { apply($0) })
        }
    }
}

@inline(__always)
private func mapElements<T, R>(_ x: [T], _ f: (T) -> R) -> [R] {
    x.withUnsafeBufferPointer { src in
        [R](unsafeUninitializedCapacity: src.count) { out, initialized in
            guard let o = out.baseAddress else { return }
            for i in 0..<src.count { (o + i).initialize(to: f(src[i])) }
            initialized = src.count
        }
    }
}

// MARK: - Branch-free math for f32 loops

/// `e^x` for a result that is rounded to `Float` next: relative error below 1e-14, so the rounded
/// result is what rounding libm's `exp` gives (but for ties closer than that). Branch free, so loops
/// over it vectorize. Below -110 the result is 0 and above 100 it is e^100, which are 0 and
/// infinity as `Float`; NaN stays NaN.
@inline(__always)
func expForFloat(_ input: Double) -> Double {
    let x = input < -110 ? -110 : (input > 100 ? 100 : input)
    // x = k ln2 + r with |r| <= ln2/2; the shifter rounds x log2(e) to an integer k in its low bits.
    let shifter = 6755399441055744.0  // 1.5 * 2^52
    let t = x * 1.4426950408889634 + shifter
    let k = t - shifter
    let r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    // e^r by its Taylor series to r^11 / 11!; the first omitted term is below 7e-15.
    var p = 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let scale = Double(bitPattern: (t.bitPattern &- shifter.bitPattern &+ 1023) << 52)
    return input < -110 ? 0 : p * scale
}

/// `1 / (1 + e^-x)` for a result rounded to `Float` next; see `expForFloat`.
@inline(__always)
func sigmoidForFloat(_ x: Double) -> Double {
    let e = expForFloat(-Swift.abs(x))
    return (x >= 0 ? 1 : e) / (1 + e)
}

/// `tanh(x)` for a result rounded to `Float` next, from `1 - 2 / (e^2|x| + 1)`; below 1e-4, where
/// that cancels, from `x - x^3/3` (the next term is below 1e-17 relative).
@inline(__always)
func tanhForFloat(_ x: Double) -> Double {
    let a = Swift.abs(x)
    let t = 1 - 2 / (expForFloat(2 * a) + 1)
    let y = a < 1e-4 ? a - a * a * a / 3 : t
    return x < 0 ? -y : (x > 0 ? y : x)
}

// MARK: - Math

/// The signed integer types, which negation and absolute value keep signed.
let signedIntegers: Set<DType> = [.i64, .i32, .i16, .i8]

/// `|x|`.
public struct Abs: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "abs"
    public static var dtypes: Set<DType> { DType.numeric }
    public init() {}
    public func apply(_ x: Double) -> Double { Swift.abs(x) }
    public func apply(_ x: Float) -> Float { Swift.abs(x) }
    public func apply(_ x: Int64) -> Int64 { x < 0 ? 0 &- x : x }
    public func apply(_ x: UInt64) -> UInt64 { x }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .abs(x) }
}

/// `-x`.
public struct Neg: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "neg"
    public static let dtypes: Set<DType> = DType.floatingPoint.union(signedIntegers)
    public init() {}
    public func apply(_ x: Double) -> Double { -x }
    public func apply(_ x: Float) -> Float { -x }
    public func apply(_ x: Int64) -> Int64 { 0 &- x }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .neg(x) }
}

/// `-1`, `0` or `1` by the sign of `x`; zeros and NaN are kept.
public struct Sign: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "sign"
    public static var dtypes: Set<DType> { DType.numeric }
    public init() {}
    public func apply(_ x: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : x) }
    public func apply(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : x) }
    public func apply(_ x: Int64) -> Int64 { x.signum() }
    public func apply(_ x: UInt64) -> UInt64 { x == 0 ? 0 : 1 }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .sign(x) }
}

/// `e^x`.
public struct Exp: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "exp"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.exp(x) }
    public func apply(_ x: Float) -> Float { Float(expForFloat(Double(x))) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .exp(x) }
}

/// The natural logarithm.
public struct Log: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "log"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.log(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .log(x) }
}

/// `√x`.
public struct Sqrt: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "sqrt"
    public init() {}
    // The explicit NaN keeps negative inputs off libm's errno path, so the f32 loop vectorizes.
    public func apply(_ x: Double) -> Double { x < 0 ? .nan : x.squareRoot() }
    public func apply(_ x: Float) -> Float { x < 0 ? .nan : x.squareRoot() }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .sqrt(x) }
}

/// `1 / x`.
public struct Reciprocal: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "reciprocal"
    public init() {}
    public func apply(_ x: Double) -> Double { 1 / x }
    public func apply(_ x: Float) -> Float { 1 / x }
    public func formula(of x: ScalarFormula) -> ScalarFormula { 1 / x }
}

/// The largest integer not above `x`.
public struct Floor: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "floor"
    public init() {}
    public func apply(_ x: Double) -> Double { x.rounded(.down) }
    public func apply(_ x: Float) -> Float { x.rounded(.down) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .floor(x) }
}

/// The smallest integer not below `x`.
public struct Ceil: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "ceil"
    public init() {}
    public func apply(_ x: Double) -> Double { x.rounded(.up) }
    public func apply(_ x: Float) -> Float { x.rounded(.up) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .ceil(x) }
}

/// The nearest integer, halves to even.
public struct Round: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "round"
    public init() {}
    public func apply(_ x: Double) -> Double { x.rounded(.toNearestOrEven) }
    public func apply(_ x: Float) -> Float { x.rounded(.toNearestOrEven) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .round(x) }
}

/// The Gauss error function.
public struct Erf: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "erf"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.erf(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .erf(x) }
}

/// The sine (radians).
public struct Sin: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "sin"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.sin(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .sin(x) }
}

/// The cosine (radians).
public struct Cos: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "cos"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.cos(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .cos(x) }
}

/// The tangent (radians).
public struct Tan: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "tan"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.tan(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .tan(x) }
}

/// The arcsine; NaN outside [-1, 1].
public struct Asin: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "asin"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.asin(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .asin(x) }
}

/// The arccosine; NaN outside [-1, 1].
public struct Acos: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "acos"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.acos(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .acos(x) }
}

/// The arctangent.
public struct Atan: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "atan"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.atan(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .atan(x) }
}

/// The hyperbolic sine.
public struct Sinh: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "sinh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.sinh(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .sinh(x) }
}

/// The hyperbolic cosine.
public struct Cosh: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "cosh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.cosh(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .cosh(x) }
}

/// The hyperbolic tangent.
public struct Tanh: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "tanh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.tanh(x) }
    public func apply(_ x: Float) -> Float { Float(tanhForFloat(Double(x))) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .tanh(x) }
}

/// The inverse hyperbolic sine.
public struct Asinh: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "asinh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.asinh(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .asinh(x) }
}

/// The inverse hyperbolic cosine; NaN below 1.
public struct Acosh: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "acosh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.acosh(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .acosh(x) }
}

/// The inverse hyperbolic tangent; NaN outside [-1, 1].
public struct Atanh: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "atanh"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.atanh(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .atanh(x) }
}

// MARK: - Activations

// ONNX stores float attributes as 32-bit floats; defaults are those values, so an op that omits
// an attribute computes exactly what one that spells out the default does.

/// `max(x, 0)`; NaN stays NaN.
public struct Relu: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "relu"
    public static let dtypes: Set<DType> = DType.floatingPoint.union(signedIntegers)
    public init() {}
    public func apply(_ x: Double) -> Double { x > 0 || x.isNaN ? x : 0 }
    public func apply(_ x: Float) -> Float { x > 0 || x.isNaN ? x : 0 }
    public func apply(_ x: Int64) -> Int64 { Swift.max(x, 0) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .max(x, 0) }
}

/// `x` where `x >= 0`, else `alpha * x`.
public struct LeakyRelu: UnaryMath, UnaryFormula {
    public static let name = "leaky_relu"
    public var alpha: Double

    public init(alpha: Double = Double(Float(0.01))) { self.alpha = alpha }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha"])
        alpha = try attributes.float("alpha", default: Double(Float(0.01)))
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("alpha", .float(alpha))]) }

    public func apply(_ x: Double) -> Double { x >= 0 ? x : alpha * x }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .choose(x >= 0, x, .constant(alpha) * x) }
}

/// `x` where `x > alpha`, else 0.
public struct ThresholdedRelu: UnaryMath, UnaryFormula {
    public static let name = "thresholded_relu"
    public var alpha: Double

    public init(alpha: Double = 1) { self.alpha = alpha }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha"])
        alpha = try attributes.float("alpha", default: 1)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("alpha", .float(alpha))]) }

    public func apply(_ x: Double) -> Double { x > alpha ? x : 0 }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .choose(x > .constant(alpha), x, 0) }
}

/// `x + bias` where `x < -lambd`, `x - bias` where `x > lambd`, else 0 (ONNX's Shrink; torch's
/// hardshrink is `bias = 0`, its softshrink `bias = lambd`).
public struct Shrink: UnaryMath, UnaryFormula {
    public static let name = "shrink"
    public static var dtypes: Set<DType> { DType.numeric }
    public var lambd: Double
    public var bias: Double

    public init(lambd: Double = 0.5, bias: Double = 0) {
        self.lambd = lambd
        self.bias = bias
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["lambd", "bias"])
        lambd = try attributes.float("lambd", default: 0.5)
        bias = try attributes.float("bias", default: 0)
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("lambd", .float(lambd)), ("bias", .float(bias))])
    }

    public func apply(_ x: Double) -> Double { x < -lambd ? x + bias : (x > lambd ? x - bias : 0) }
    public func formula(of x: ScalarFormula) -> ScalarFormula {
        .choose(x < .constant(-lambd), x + .constant(bias), .choose(x > .constant(lambd), x - .constant(bias), 0))
    }
}

/// `x` where `x >= 0`, else `alpha * (e^x - 1)`.
public struct Elu: UnaryMath, UnaryFormula {
    public static let name = "elu"
    public var alpha: Double

    public init(alpha: Double = 1) { self.alpha = alpha }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha"])
        alpha = try attributes.float("alpha", default: 1)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("alpha", .float(alpha))]) }

    public func apply(_ x: Double) -> Double { x >= 0 ? x : alpha * Foundation.expm1(x) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .choose(x >= 0, x, .constant(alpha) * .expm1(x)) }
}

/// `gamma * x` where `x > 0`, else `gamma * alpha * (e^x - 1)`.
public struct Selu: UnaryMath, UnaryFormula {
    public static let name = "selu"
    public var alpha: Double
    public var gamma: Double
    public static let defaultAlpha = Double(Float(1.67326319217681884765625))
    public static let defaultGamma = Double(Float(1.05070102214813232421875))

    public init(alpha: Double = Selu.defaultAlpha, gamma: Double = Selu.defaultGamma) {
        self.alpha = alpha
        self.gamma = gamma
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha", "gamma"])
        alpha = try attributes.float("alpha", default: Self.defaultAlpha)
        gamma = try attributes.float("gamma", default: Self.defaultGamma)
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("alpha", .float(alpha)), ("gamma", .float(gamma))])
    }

    public func apply(_ x: Double) -> Double { x > 0 ? gamma * x : gamma * (alpha * Foundation.exp(x) - alpha) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .choose(x > 0, .constant(gamma) * x, .constant(gamma * alpha) * .expm1(x)) }
}

/// `max(0, x) + min(0, alpha * (e^(x / alpha) - 1))`; `alpha` must not be 0.
public struct Celu: UnaryMath, UnaryFormula {
    public static let name = "celu"
    public var alpha: Double

    public init(alpha: Double = 1) { self.alpha = alpha }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha"])
        alpha = try attributes.float("alpha", default: 1)
        guard alpha != 0 else { throw EmberError.op(Self.name, "expected a nonzero alpha, received 0") }
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("alpha", .float(alpha))]) }

    public func apply(_ x: Double) -> Double {
        Swift.max(0, x) + Swift.min(0, alpha * Foundation.expm1(x / alpha))
    }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .max(x, 0) + .min(.constant(alpha) * .expm1(x * .constant(1 / alpha)), 0) }
}

/// `1 / (1 + e^-x)`.
public struct Sigmoid: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "sigmoid"
    public init() {}
    public func apply(_ x: Double) -> Double { Self.sigmoid(x) }
    public func apply(_ x: Float) -> Float { Float(sigmoidForFloat(Double(x))) }

    /// Computed from `e^-|x|`, which never overflows.
    @inline(__always) static func sigmoid(_ x: Double) -> Double {
        let e = Foundation.exp(-Swift.abs(x))
        return x >= 0 ? 1 / (1 + e) : e / (1 + e)
    }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .sigmoid(x) }
}

/// `max(0, min(1, alpha * x + beta))`.
public struct HardSigmoid: UnaryMath, UnaryFormula {
    public static let name = "hard_sigmoid"
    public var alpha: Double
    public var beta: Double

    public init(alpha: Double = Double(Float(0.2)), beta: Double = 0.5) {
        self.alpha = alpha
        self.beta = beta
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha", "beta"])
        alpha = try attributes.float("alpha", default: Double(Float(0.2)))
        beta = try attributes.float("beta", default: 0.5)
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("alpha", .float(alpha)), ("beta", .float(beta))])
    }

    public func apply(_ x: Double) -> Double { Swift.max(0, Swift.min(1, alpha * x + beta)) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .clamp(.constant(alpha) * x + .constant(beta), 0, 1) }
}

/// `x * max(0, min(1, x / 6 + 1/2))`.
public struct HardSwish: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "hard_swish"
    public init() {}
    public func apply(_ x: Double) -> Double { x * Swift.max(0, Swift.min(1, x / 6 + 0.5)) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { x * .clamp(.constant(1.0 / 6) * x + 0.5, 0, 1) }
}

/// `x / (1 + |x|)`.
public struct Softsign: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "softsign"
    public init() {}
    public func apply(_ x: Double) -> Double { x / (1 + Swift.abs(x)) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { x / (.abs(x) + 1) }
}

/// `log(1 + e^x)`.
public struct Softplus: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "softplus"
    public init() {}
    public func apply(_ x: Double) -> Double { Self.softplus(x) }

    /// Computed as `max(x, 0) + log1p(e^-|x|)`, which never overflows.
    @inline(__always) static func softplus(_ x: Double) -> Double {
        Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
    }
    public func formula(of x: ScalarFormula) -> ScalarFormula { .softplus(x) }
}

/// `x * tanh(softplus(x))`.
public struct Mish: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "mish"
    public init() {}
    public func apply(_ x: Double) -> Double { x * Foundation.tanh(Softplus.softplus(x)) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { x * .tanh(.softplus(x)) }
}

/// `x * sigmoid(x)` (also called swish with `alpha = 1`).
public struct Silu: UnaryMath, UnaryFormula, AttributeFree {
    public static let name = "silu"
    public init() {}
    public func apply(_ x: Double) -> Double { x * Sigmoid.sigmoid(x) }
    public func apply(_ x: Float) -> Float { Float(Double(x) * sigmoidForFloat(Double(x))) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { x * .sigmoid(x) }
}

/// `x * sigmoid(alpha * x)`.
public struct Swish: UnaryMath, UnaryFormula {
    public static let name = "swish"
    public var alpha: Double

    public init(alpha: Double = 1) { self.alpha = alpha }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha"])
        alpha = try attributes.float("alpha", default: 1)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("alpha", .float(alpha))]) }

    public func apply(_ x: Double) -> Double { x * Sigmoid.sigmoid(alpha * x) }
    public func apply(_ x: Float) -> Float { Float(Double(x) * sigmoidForFloat(alpha * Double(x))) }
    public func formula(of x: ScalarFormula) -> ScalarFormula { x * .sigmoid(.constant(alpha) * x) }
}

/// The Gaussian error linear unit: `x * Φ(x)`, or with `approximate = "tanh"` the tanh
/// approximation `x/2 * (1 + tanh(√(2/π) * (x + 0.044715 x³)))`.
public struct Gelu: UnaryMath, UnaryFormula {
    public static let name = "gelu"
    public enum Approximation: String, Sendable { case none, tanh }
    public var approximate: Approximation

    public init(approximate: Approximation = .none) { self.approximate = approximate }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["approximate"])
        let text = try attributes.string("approximate", default: "none")
        guard let approximate = Approximation(rawValue: text) else {
            throw EmberError.op(Self.name, "expected approximate 'none' or 'tanh', received '\(text)'")
        }
        self.approximate = approximate
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("approximate", .string(approximate.rawValue))]) }

    public func apply(_ x: Double) -> Double {
        switch approximate {
        case .none:
            return 0.5 * x * Foundation.erfc(-x / 2.0.squareRoot())
        case .tanh:
            let inner = (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + Foundation.tanh(inner))
        }
    }

    public func apply(_ x: Float) -> Float {
        let d = Double(x)
        switch approximate {
        case .none:
            return Float(apply(d))
        case .tanh:
            let inner = (2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)
            return Float(0.5 * d * (1 + tanhForFloat(inner)))
        }
    }

    public func formula(of x: ScalarFormula) -> ScalarFormula {
        switch approximate {
        // erfc(-z) is 1 + erf(z) without its cancellation for large negative z.
        case .none: return 0.5 * x * .erfc(.constant(-0.5.squareRoot()) * x)
        case .tanh:
            let inner = .constant((2 / Double.pi).squareRoot()) * (x + 0.044715 * x * x * x)
            return 0.5 * x * (.tanh(inner) + 1)
        }
    }
}

// MARK: - Predicates

/// Whether each element is NaN.
public struct IsNaN: AttributeFree {
    public static let name = "is_nan"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .elementwise }
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        return [TensorType(.bool, x.shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        if case .f32(let v) = x.storage { return [Tensor(shape: x.shape, bools: Loops.map(v) { $0.isNaN })] }
        return [Tensor(shape: x.shape, bools: Loops.map(x.doubles()) { $0.isNaN })]
    }
}

/// Whether each element is infinite, counting only the signs asked for.
public struct IsInf: Operator {
    public static let name = "is_inf"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .elementwise }
    public var detectNegative: Bool
    public var detectPositive: Bool

    public init(detectNegative: Bool = true, detectPositive: Bool = true) {
        self.detectNegative = detectNegative
        self.detectPositive = detectPositive
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["detect_negative", "detect_positive"])
        detectNegative = try attributes.bool("detect_negative", default: true)
        detectPositive = try attributes.bool("detect_positive", default: true)
    }
    public var attributes: Attributes {
        Attributes(
            op: Self.name,
            [("detect_negative", .int(detectNegative ? 1 : 0)), ("detect_positive", .int(detectPositive ? 1 : 0))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        return [TensorType(.bool, x.shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        let (negative, positive) = (detectNegative, detectPositive)
        let out = Loops.map(x.doubles()) { v in v.isInfinite && (v < 0 ? negative : positive) }
        return [Tensor(shape: x.shape, bools: out)]
    }
}
