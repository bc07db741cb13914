import EmberIR
import Foundation

// The binary arithmetic ops live in this file with the loops of `BinaryFunction`: EmberOps builds
// file by file in debug builds, and only there do the loops specialize for each op and inline its
// `apply`.

/// A function of two elements of one dtype, computed in `Double` for floats (rounded once),
/// `Int64` for integers, and directly on `Float` and `UInt64` storage.
public protocol BinaryFunction {
    func apply(_ a: Double, _ b: Double) -> Double
    func apply(_ a: Int64, _ b: Int64) -> Int64
    func apply(_ a: Float, _ b: Float) -> Float
    func apply(_ a: UInt64, _ b: UInt64) -> UInt64
}

extension BinaryFunction {
    public func apply(_ a: Float, _ b: Float) -> Float { Float(apply(Double(a), Double(b))) }
    public func apply(_ a: UInt64, _ b: UInt64) -> UInt64 {
        UInt64(bitPattern: apply(Int64(bitPattern: a), Int64(bitPattern: b)))
    }

    /// The function applied to `a` and `b` broadcast together; both have one dtype.
    func broadcast(_ a: Tensor, _ b: Tensor, op: String) throws -> Tensor {
        let plan = try BroadcastPlan([a, b], op: op)
        let storage: TensorStorage
        switch (a.storage, b.storage) {
        case (.f32(let x), .f32(let y)): storage = .f32(broadcastElements(x, y, plan) { apply($0, $1) })
        case (.f64(let x), .f64(let y)): storage = .f64(broadcastElements(x, y, plan) { apply($0, $1) })
        case (.u64(let x), .u64(let y)): storage = .u64(broadcastElements(x, y, plan) { apply($0, $1) })
        default:
            if a.dtype.isFloatingPoint {
                let out = broadcastElements(a.doubles(), b.doubles(), plan) { apply($0, $1) }
                return Tensor(a.dtype, shape: plan.shape, doubles: out)
            }
            storage = .fromInt64s(broadcastElements(a.int64s(), b.int64s(), plan) { apply($0, $1) }, as: a.dtype)
        }
        return Tensor(shape: plan.shape, storage: storage)
    }
}

/// A `BinaryElementwise` op with typed, broadcasting loops.
public protocol BinaryArithmetic: BinaryElementwise, BinaryFunction {}

extension BinaryArithmetic {
    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (a, b) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(Self.dtypes, Self.name)
        return [try broadcast(a, b, op: Self.name)]
    }
}

/// `f` applied to pairs of elements broadcast by `plan`; the inner loop is specialized for the
/// same-shape and scalar cases so they vectorize.
@inline(__always)
func broadcastElements<A, B, R>(_ a: [A], _ b: [B], _ plan: BroadcastPlan, _ f: (A, B) -> R) -> [R] {
    let innerA = plan.strides[0][plan.dims.count - 1]
    let innerB = plan.strides[1][plan.dims.count - 1]
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            [R](unsafeUninitializedCapacity: plan.count) { out, initialized in
                guard let o = out.baseAddress else { return }
                var rows = RowCursor(plan)
                while rows.start < plan.count {
                    let (ia, ib, length) = (rows.offsets[0], rows.offsets[1], rows.length)
                    let dst = o + rows.start
                    if innerA == 1 && innerB == 1 {
                        for j in 0..<length { (dst + j).initialize(to: f(pa[ia + j], pb[ib + j])) }
                    } else if innerA == 0 && innerB == 1 {
                        let x = pa[ia]
                        for j in 0..<length { (dst + j).initialize(to: f(x, pb[ib + j])) }
                    } else if innerA == 1 && innerB == 0 {
                        let y = pb[ib]
                        for j in 0..<length { (dst + j).initialize(to: f(pa[ia + j], y)) }
                    } else {
                        for j in 0..<length {
                            (dst + j).initialize(to: f(pa[ia + j * innerA], pb[ib + j * innerB]))
                        }
                    }
                    rows.advance()
                }
                initialized = plan.count
            }
        }
    }
}

// MARK: - Ops

/// `a + b` with broadcasting.
public struct Add: BinaryFormula, BinaryArithmetic, AttributeFree {
    public static let name = "add"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a + b }
    public func apply(_ a: Float, _ b: Float) -> Float { a + b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }

    public func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { a + b }
}

/// `a - b` with broadcasting.
public struct Sub: BinaryFormula, BinaryArithmetic, AttributeFree {
    public static let name = "sub"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a - b }
    public func apply(_ a: Float, _ b: Float) -> Float { a - b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a &- b }

    public func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { a - b }
}

/// `a * b` with broadcasting.
public struct Mul: BinaryFormula, BinaryArithmetic, AttributeFree {
    public static let name = "mul"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a * b }
    public func apply(_ a: Float, _ b: Float) -> Float { a * b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a &* b }

    public func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { a * b }
}

/// `a / b` with broadcasting; integers truncate toward zero, and division by zero gives 0
/// (undefined in ONNX; Ember never traps on it).
public struct Div: BinaryFormula, BinaryArithmetic, AttributeFree {
    public static let name = "div"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a / b }
    public func apply(_ a: Float, _ b: Float) -> Float { a / b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue }
    public func apply(_ a: UInt64, _ b: UInt64) -> UInt64 { b == 0 ? 0 : a / b }

    public func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { a / b }
}

/// The remainder of `a / b` with broadcasting.
///
/// With `fmod = 0` the quotient is floored, so the result has the sign of `b` (Python's `%`);
/// with `fmod = 1` it is truncated, so the result has the sign of `a` (C's `fmod`). An integer
/// remainder by zero gives 0 (undefined in ONNX); a float one gives NaN.
public struct Mod: BinaryArithmetic {
    public static let name = "mod"
    public var fmod: Bool

    public init(fmod: Bool = false) { self.fmod = fmod }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["fmod"])
        let value = try attributes.int("fmod", default: 0)
        guard value == 0 || value == 1 else {
            throw EmberError.op(Self.name, "expected fmod 0 or 1, received \(value)")
        }
        fmod = value == 1
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("fmod", .int(fmod ? 1 : 0))]) }

    public func apply(_ a: Double, _ b: Double) -> Double {
        var r = Foundation.fmod(a, b)
        if fmod { return r }
        if r == 0 { return Double(signOf: b, magnitudeOf: 0) }
        if (r < 0) != (b < 0) { r += b }
        return r
    }

    public func apply(_ a: Int64, _ b: Int64) -> Int64 {
        guard b != 0 else { return 0 }
        var r = a.remainderReportingOverflow(dividingBy: b).partialValue
        if !fmod && r != 0 && (r < 0) != (b < 0) { r += b }
        return r
    }

    public func apply(_ a: UInt64, _ b: UInt64) -> UInt64 { b == 0 ? 0 : a % b }
}

/// `base ^ exponent` with broadcasting. The exponent may have another dtype than the base;
/// the output has the base's dtype.
///
/// An integer base with an integer exponent is raised exactly (wrapping on overflow); a negative
/// exponent gives the truncated quotient, 0 for `0 ^ -n`. An integer base with a float exponent
/// computes in `Double` and truncates.
public struct Pow: BinaryFormula, AttributeFree {
    public static let name = "pow"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .elementwise }
    public static let baseDTypes: Set<DType> = DType.floatingPoint.union([.i32, .i64])
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (base, exponent) = (try inputs.type(0), try inputs.type(1))
        try base.expectDType(Self.baseDTypes, Self.name, input: "base")
        try exponent.expectDType(DType.numeric, Self.name, input: "exponent")
        return [TensorType(base.dtype, try Broadcast.dims(base.shape, exponent.shape, op: Self.name))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (base, exponent) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try base.expectDType(Self.baseDTypes, Self.name, input: "base")
        try exponent.expectDType(DType.numeric, Self.name, input: "exponent")
        let plan = try BroadcastPlan([base, exponent], op: Self.name)
        if case .f32(let x) = base.storage {
            let out: [Float]
            if exponent.count == 1, exponent.scalarDouble == 2 {
                // x * x in Float is the correctly rounded square, as pow would give.
                out = broadcastElements(x, [Float(2)], plan) { a, _ in a * a }
            } else {
                out = broadcastElements(x, exponent.exactDoubles(), plan) { Float(Foundation.pow(Double($0), $1)) }
            }
            return [Tensor(shape: plan.shape, storage: .f32(out))]
        }
        if base.dtype.isFloatingPoint {
            let out = broadcastElements(base.doubles(), exponent.exactDoubles(), plan) { Foundation.pow($0, $1) }
            return [Tensor(base.dtype, shape: plan.shape, doubles: out)]
        }
        let out: [Int64]
        if exponent.dtype.isFloatingPoint {
            out = broadcastElements(base.int64s(), exponent.exactDoubles(), plan) { Int64.saturating(Foundation.pow(Double($0), $1)) }
        } else if exponent.dtype == .u64 {
            out = broadcastElements(base.int64s(), exponent.int64s(), plan) { Self.power($0, UInt64(bitPattern: $1)) }
        } else {
            out = broadcastElements(base.int64s(), exponent.int64s(), plan) { Self.power($0, $1) }
        }
        return [Tensor(base.dtype, shape: plan.shape, int64s: out)]
    }

    static func power(_ base: Int64, _ exponent: Int64) -> Int64 {
        if exponent >= 0 { return power(base, UInt64(exponent)) }
        switch base {
        case 1: return 1
        case -1: return exponent & 1 == 0 ? 1 : -1
        default: return 0
        }
    }

    /// `base ^ exponent` by squaring, wrapping on overflow.
    static func power(_ base: Int64, _ exponent: UInt64) -> Int64 {
        var (result, square, e) = (Int64(1), base, exponent)
        while e > 0 {
            if e & 1 == 1 { result &*= square }
            square &*= square
            e >>= 1
        }
        return result
    }

    public func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { .combine(.pow, a, b) }
}

/// `x` where `x >= 0`, else `slope * x`, with `slope` broadcast against `x`.
public struct PRelu: BinaryFormula, BinaryArithmetic, AttributeFree {
    public static let name = "prelu"
    public static let dtypes: Set<DType> = DType.floatingPoint.union([.i32, .i64, .u32, .u64])
    public init() {}
    public func apply(_ x: Double, _ slope: Double) -> Double { x < 0 ? slope * x : x }
    public func apply(_ x: Float, _ slope: Float) -> Float { x < 0 ? slope * x : x }
    public func apply(_ x: Int64, _ slope: Int64) -> Int64 { x < 0 ? slope &* x : x }
    public func apply(_ x: UInt64, _ slope: UInt64) -> UInt64 { x }

    public func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { .choose(a < 0, b * a, a) }
}
