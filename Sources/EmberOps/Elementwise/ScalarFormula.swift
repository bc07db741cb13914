import EmberIR
import Foundation

// An elementwise op's computation, written once as a formula over scalars: the CPU's vector
// programs and CUDA's generated kernels both read it, so an op with a formula runs on both
// without either backend naming it. The reference evaluation (`evaluate`) stays the op's
// executable definition; a test checks every formula against it.

/// A function of one value that every backend provides as a primitive.
public enum ScalarFunction: String, Sendable, CaseIterable {
    case neg, abs, sign, floor, ceil, round
    case exp, expm1, log, log1p, sqrt
    case erf, erfc, tanh, sigmoid, softplus
    case sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh

    /// The function in `Double`: the value backends approximate in f32.
    public func callAsFunction(_ x: Double) -> Double {
        switch self {
        case .neg: -x
        case .abs: Swift.abs(x)
        case .sign: x > 0 ? 1 : (x < 0 ? -1 : x)
        case .floor: x.rounded(.down)
        case .ceil: x.rounded(.up)
        case .round: x.rounded(.toNearestOrEven)
        case .exp: Foundation.exp(x)
        case .expm1: Foundation.expm1(x)
        case .log: Foundation.log(x)
        case .log1p: Foundation.log1p(x)
        case .sqrt: x < 0 ? .nan : x.squareRoot()
        case .erf: Foundation.erf(x)
        case .erfc: Foundation.erfc(x)
        case .tanh: Foundation.tanh(x)
        case .sigmoid: x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
        case .softplus: Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        case .sin: Foundation.sin(x)
        case .cos: Foundation.cos(x)
        case .tan: Foundation.tan(x)
        case .asin: Foundation.asin(x)
        case .acos: Foundation.acos(x)
        case .atan: Foundation.atan(x)
        case .sinh: Foundation.sinh(x)
        case .cosh: Foundation.cosh(x)
        case .asinh: Foundation.asinh(x)
        case .acosh: Foundation.acosh(x)
        case .atanh: Foundation.atanh(x)
        }
    }
}

/// A function of two values that every backend provides as a primitive.
public enum ScalarOperation: String, Sendable, CaseIterable {
    /// `max` and `min` let NaN win, as the `max` and `min` ops do.
    case add, sub, mul, div, max, min, pow

    /// The operation in `Double`.
    public func callAsFunction(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        case .max: a < b || b.isNaN ? b : a
        case .min: b < a || b.isNaN ? b : a
        case .pow: Foundation.pow(a, b)
        }
    }
}

/// How a `select` compares its two values.
public enum ScalarComparison: String, Sendable, CaseIterable {
    case less, lessOrEqual, greater, greaterOrEqual

    /// The comparison in `Double`; false where either side is NaN.
    public func callAsFunction(_ a: Double, _ b: Double) -> Bool {
        switch self {
        case .less: a < b
        case .lessOrEqual: a <= b
        case .greater: a > b
        case .greaterOrEqual: a >= b
        }
    }
}

/// A comparison of two formulas, for `ScalarFormula.select`.
public struct ScalarCondition: Sendable, Equatable {
    public var comparison: ScalarComparison
    public var lhs: ScalarFormula
    public var rhs: ScalarFormula
}

/// The value of one output element as a formula over the op's operands at that element,
/// computed in f32 by the backends.
public indirect enum ScalarFormula: Sendable, Equatable {
    /// Operand `i`: what `i` names is the caller's (an op's input slot, a register, a variable).
    case operand(Int)
    case constant(Double)
    case apply(ScalarFunction, ScalarFormula)
    case combine(ScalarOperation, ScalarFormula, ScalarFormula)
    /// `condition ? then : otherwise`.
    case select(ScalarCondition, then: ScalarFormula, otherwise: ScalarFormula)

    /// The formula's value in `Double`, with `operands[i]` for `.operand(i)`.
    public func evaluate(_ operands: [Double]) -> Double {
        switch self {
        case .operand(let i): operands[i]
        case .constant(let c): c
        case .apply(let f, let x): f(x.evaluate(operands))
        case .combine(let f, let a, let b): f(a.evaluate(operands), b.evaluate(operands))
        case .select(let c, let then, let otherwise):
            c.comparison(c.lhs.evaluate(operands), c.rhs.evaluate(operands))
                ? then.evaluate(operands) : otherwise.evaluate(operands)
        }
    }
}

// MARK: Writing formulas

extension ScalarFormula: ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    public init(floatLiteral value: Double) { self = .constant(value) }
    public init(integerLiteral value: Int) { self = .constant(Double(value)) }

    public static func + (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .combine(.add, a, b) }
    public static func - (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .combine(.sub, a, b) }
    public static func * (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .combine(.mul, a, b) }
    public static func / (a: ScalarFormula, b: ScalarFormula) -> ScalarFormula { .combine(.div, a, b) }
    public static func max(_ a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { .combine(.max, a, b) }
    public static func min(_ a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula { .combine(.min, a, b) }
    /// `x` limited to `[low, high]`.
    public static func clamp(_ x: ScalarFormula, _ low: ScalarFormula, _ high: ScalarFormula) -> ScalarFormula {
        .min(.max(x, low), high)
    }
    /// `condition ? then : otherwise`.
    public static func choose(_ condition: ScalarCondition, _ then: ScalarFormula, _ otherwise: ScalarFormula)
        -> ScalarFormula
    {
        .select(condition, then: then, otherwise: otherwise)
    }

    public static func < (a: ScalarFormula, b: ScalarFormula) -> ScalarCondition {
        ScalarCondition(comparison: .less, lhs: a, rhs: b)
    }
    public static func <= (a: ScalarFormula, b: ScalarFormula) -> ScalarCondition {
        ScalarCondition(comparison: .lessOrEqual, lhs: a, rhs: b)
    }
    public static func > (a: ScalarFormula, b: ScalarFormula) -> ScalarCondition {
        ScalarCondition(comparison: .greater, lhs: a, rhs: b)
    }
    public static func >= (a: ScalarFormula, b: ScalarFormula) -> ScalarCondition {
        ScalarCondition(comparison: .greaterOrEqual, lhs: a, rhs: b)
    }
}

extension ScalarFormula {
    // Each primitive function applied to a formula: `.exp(x)`.
    public static func neg(_ x: ScalarFormula) -> ScalarFormula { .apply(.neg, x) }
    public static func abs(_ x: ScalarFormula) -> ScalarFormula { .apply(.abs, x) }
    public static func sign(_ x: ScalarFormula) -> ScalarFormula { .apply(.sign, x) }
    public static func floor(_ x: ScalarFormula) -> ScalarFormula { .apply(.floor, x) }
    public static func ceil(_ x: ScalarFormula) -> ScalarFormula { .apply(.ceil, x) }
    public static func round(_ x: ScalarFormula) -> ScalarFormula { .apply(.round, x) }
    public static func exp(_ x: ScalarFormula) -> ScalarFormula { .apply(.exp, x) }
    public static func expm1(_ x: ScalarFormula) -> ScalarFormula { .apply(.expm1, x) }
    public static func log(_ x: ScalarFormula) -> ScalarFormula { .apply(.log, x) }
    public static func log1p(_ x: ScalarFormula) -> ScalarFormula { .apply(.log1p, x) }
    public static func sqrt(_ x: ScalarFormula) -> ScalarFormula { .apply(.sqrt, x) }
    public static func erf(_ x: ScalarFormula) -> ScalarFormula { .apply(.erf, x) }
    public static func erfc(_ x: ScalarFormula) -> ScalarFormula { .apply(.erfc, x) }
    public static func tanh(_ x: ScalarFormula) -> ScalarFormula { .apply(.tanh, x) }
    public static func sigmoid(_ x: ScalarFormula) -> ScalarFormula { .apply(.sigmoid, x) }
    public static func softplus(_ x: ScalarFormula) -> ScalarFormula { .apply(.softplus, x) }
    public static func sin(_ x: ScalarFormula) -> ScalarFormula { .apply(.sin, x) }
    public static func cos(_ x: ScalarFormula) -> ScalarFormula { .apply(.cos, x) }
    public static func tan(_ x: ScalarFormula) -> ScalarFormula { .apply(.tan, x) }
    public static func asin(_ x: ScalarFormula) -> ScalarFormula { .apply(.asin, x) }
    public static func acos(_ x: ScalarFormula) -> ScalarFormula { .apply(.acos, x) }
    public static func atan(_ x: ScalarFormula) -> ScalarFormula { .apply(.atan, x) }
    public static func sinh(_ x: ScalarFormula) -> ScalarFormula { .apply(.sinh, x) }
    public static func cosh(_ x: ScalarFormula) -> ScalarFormula { .apply(.cosh, x) }
    public static func asinh(_ x: ScalarFormula) -> ScalarFormula { .apply(.asinh, x) }
    public static func acosh(_ x: ScalarFormula) -> ScalarFormula { .apply(.acosh, x) }
    public static func atanh(_ x: ScalarFormula) -> ScalarFormula { .apply(.atanh, x) }
}

// MARK: The op trait

/// A floating-point elementwise op whose value is a `ScalarFormula` of its operands. Backends
/// that generate elementwise code read the formula; the op's `evaluate` stays its definition.
public protocol ScalarElementwise: Operator {
    /// The value of one element from `operands`, one per input slot (nil where an optional input
    /// is absent); throws `.unsupported` for operand patterns the formula does not cover.
    func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula
}

/// A `ScalarElementwise` op of one operand.
public protocol UnaryFormula: ScalarElementwise {
    func formula(of x: ScalarFormula) -> ScalarFormula
}

extension UnaryFormula {
    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula {
        guard operands.count == 1, let x = operands[0] else {
            throw EmberError.op(Self.name, "expected 1 operand, received \(operands.count)", code: .unsupported)
        }
        return formula(of: x)
    }
}

/// A `ScalarElementwise` op of two operands.
public protocol BinaryFormula: ScalarElementwise {
    func formula(of a: ScalarFormula, _ b: ScalarFormula) -> ScalarFormula
}

extension BinaryFormula {
    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula {
        guard operands.count == 2, let a = operands[0], let b = operands[1] else {
            throw EmberError.op(Self.name, "expected 2 operands, received \(operands.count)", code: .unsupported)
        }
        return formula(of: a, b)
    }
}

extension ScalarElementwise {
    /// Every operand present, folded left to right with `f` (the variadic ops).
    func fold(_ operands: [ScalarFormula?], _ f: ScalarOperation) throws -> ScalarFormula {
        let present = operands.compactMap { $0 }
        guard let first = present.first, present.count == operands.count else {
            throw EmberError.op(Self.name, "expected every operand present", code: .unsupported)
        }
        return present.dropFirst().reduce(first) { .combine(f, $0, $1) }
    }
}
