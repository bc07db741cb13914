import EmberIR
import EmberOps

/// Each elementwise op as a CUDA C++ expression. Float operands (f32, f16, bf16) are computed in
/// f32; i64, i32 and bool operands in `long long`, `int` and `bool` (see `CUDAPrelude.value`).
enum CUDAElementwiseExpression {
    /// The expression for `op` applied to `operands` (nil for an absent optional input) of dtypes
    /// `types`, giving a value of `resultType`, or why the op has no CUDA form.
    static func expression(
        _ op: any Operator, _ operands: [String?], types: [DType?], resultType: DType
    ) -> Result<String, Unsupported> {
        let present = operands.compactMap { $0 }
        if let typed = typedExpression(op, operands, types: types, resultType: resultType) { return typed }
        if let t = types.compactMap({ $0 }).first(where: { !CUDAPrelude.dtypes.contains($0) }) {
            return .failure(Unsupported("\(op.name) of \(t) has no generated CUDA form"))
        }
        func unary(_ f: (String) -> String) -> Result<String, Unsupported> {
            guard present.count == 1, let x = operands.first ?? nil else {
                return .failure(Unsupported("\(op.name) expects one operand"))
            }
            return .success(f(x))
        }
        func binary(_ f: (String, String) -> String) -> Result<String, Unsupported> {
            guard operands.count == 2, let a = operands[0], let b = operands[1] else {
                return .failure(Unsupported("\(op.name) expects two operands"))
            }
            return .success(f(a, b))
        }
        func fold(_ f: (String, String) -> String) -> Result<String, Unsupported> {
            guard let first = present.first, present.count == operands.count else {
                return .failure(Unsupported("\(op.name) expects operands"))
            }
            return .success(present.dropFirst().reduce(first) { f($0, $1) })
        }
        let l = CUDAPrelude.literal
        switch op {
        case is Add: return binary { "(\($0) + \($1))" }
        case is Sub: return binary { "(\($0) - \($1))" }
        case is Mul: return binary { "(\($0) * \($1))" }
        case is Div: return binary { "(\($0) / \($1))" }
        case is Pow: return binary { "powf(\($0), \($1))" }
        case is PRelu: return binary { "(\($0) < 0.0f ? \($1) * \($0) : \($0))" }
        case is Max: return fold { "fmaxf(\($0), \($1))" }
        case is Min: return fold { "fminf(\($0), \($1))" }
        case is Sum: return fold { "(\($0) + \($1))" }
        case is Mean: return fold { "(\($0) + \($1))" }.map { "(\($0) / \(l(Double(present.count))))" }
        case is Neg: return unary { "(-\($0))" }
        case is Abs: return unary { "fabsf(\($0))" }
        case is Exp: return unary { "expf(\($0))" }
        case is Log: return unary { "logf(\($0))" }
        case is Sqrt: return unary { "sqrtf(\($0))" }
        case is Reciprocal: return unary { "(1.0f / \($0))" }
        case is Floor: return unary { "floorf(\($0))" }
        case is Ceil: return unary { "ceilf(\($0))" }
        case is Round: return unary { "rintf(\($0))" }
        case is Erf: return unary { "erff(\($0))" }
        case is Sin: return unary { "sinf(\($0))" }
        case is Cos: return unary { "cosf(\($0))" }
        case is Tanh: return unary { "tanhf(\($0))" }
        case is Relu: return unary { "fmaxf(\($0), 0.0f)" }
        case is Sigmoid: return unary { "(1.0f / (1.0f + expf(-\($0))))" }
        case is Silu: return unary { "(\($0) / (1.0f + expf(-\($0))))" }
        case is Softplus: return unary { "ember_softplus(\($0))" }
        case is Softsign: return unary { "(\($0) / (1.0f + fabsf(\($0))))" }
        case is Mish: return unary { "(\($0) * tanhf(ember_softplus(\($0))))" }
        case is HardSwish: return unary { "(\($0) * fmaxf(0.0f, fminf(1.0f, \($0) / 6.0f + 0.5f)))" }
        case let o as Swish: return unary { "(\($0) / (1.0f + expf(-\(l(o.alpha)) * \($0))))" }
        case let o as LeakyRelu: return unary { "(\($0) < 0.0f ? \(l(o.alpha)) * \($0) : \($0))" }
        case let o as Elu: return unary { "(\($0) >= 0.0f ? \($0) : \(l(o.alpha)) * expm1f(\($0)))" }
        case let o as HardSigmoid:
            return unary { "fmaxf(0.0f, fminf(1.0f, \(l(o.alpha)) * \($0) + \(l(o.beta))))" }
        case let o as Gelu:
            switch o.approximate {
            case .none: return unary { "(0.5f * \($0) * erfcf(-0.70710678118654752f * \($0)))" }
            case .tanh:
                return unary {
                    "(0.5f * \($0) * (1.0f + tanhf(0.79788456080286536f * (\($0) + 0.044715f * \($0) * \($0) * \($0)))))"
                }
            }
        case is Clip:
            guard let x = operands.first ?? nil else { return .failure(Unsupported("clip expects an input")) }
            var e = x
            if operands.count > 1, let lo = operands[1] { e = "fmaxf(\(e), \(lo))" }
            if operands.count > 2, let hi = operands[2] { e = "fminf(\(e), \(hi))" }
            return .success(e)
        default:
            return .failure(Unsupported("\(op.name) has no generated CUDA form"))
        }
    }
}

extension CUDAElementwiseExpression {
    /// The ops that also take integer and bool operands: comparisons, logic, `where`, casts and
    /// integer arithmetic that cannot overflow differently from the reference's wrapping. nil
    /// when `op` is not one of them (the float table above decides).
    static func typedExpression(
        _ op: any Operator, _ operands: [String?], types: [DType?], resultType: DType
    ) -> Result<String, Unsupported>? {
        let isFloat = types.allSatisfy { $0.map(CUDAPrelude.dtypes.contains) ?? true }
        func args(_ n: Int) -> [String]? {
            let present = operands.compactMap { $0 }
            return present.count == n && operands.count == n ? present : nil
        }
        func need(_ n: Int, _ f: ([String]) -> String) -> Result<String, Unsupported> {
            guard let a = args(n) else { return .failure(Unsupported("\(op.name) expects \(n) operands")) }
            return .success(f(a))
        }
        switch op {
        case is Equal: return need(2) { "(\($0[0]) == \($0[1]))" }
        case is Less: return need(2) { "(\($0[0]) < \($0[1]))" }
        case is LessOrEqual: return need(2) { "(\($0[0]) <= \($0[1]))" }
        case is Greater: return need(2) { "(\($0[0]) > \($0[1]))" }
        case is GreaterOrEqual: return need(2) { "(\($0[0]) >= \($0[1]))" }
        case is And: return need(2) { "(\($0[0]) && \($0[1]))" }
        case is Or: return need(2) { "(\($0[0]) || \($0[1]))" }
        case is Xor: return need(2) { "(\($0[0]) != \($0[1]))" }
        case is Not: return need(1) { "(!\($0[0]))" }
        case is Where: return need(3) { "(\($0[0]) ? \($0[1]) : \($0[2]))" }
        case is Identity: return need(1) { $0[0] }
        case let o as Cast:
            guard let from = types.first ?? nil else { return .failure(Unsupported("cast expects one operand")) }
            return cast(from: from, to: o.to).map { f in need(1) { f($0[0]) } }
                ?? .failure(Unsupported("cast from \(from) to \(o.to) is not generated"))
        // Integer arithmetic in the operands' own C type (long long, int).
        case is Add where !isFloat: return need(2) { "(\($0[0]) + \($0[1]))" }
        case is Sub where !isFloat: return need(2) { "(\($0[0]) - \($0[1]))" }
        case is Mul where !isFloat: return need(2) { "(\($0[0]) * \($0[1]))" }
        case is Neg where !isFloat: return need(1) { "(-\($0[0]))" }
        case is Abs where !isFloat: return need(1) { "(\($0[0]) < 0 ? -\($0[0]) : \($0[0]))" }
        case is Max where !isFloat: return need(2) { "(\($0[0]) > \($0[1]) ? \($0[0]) : \($0[1]))" }
        case is Min where !isFloat: return need(2) { "(\($0[0]) < \($0[1]) ? \($0[0]) : \($0[1]))" }
        default: return nil
        }
    }

    /// The conversion between two dtypes kernels compute with, as the reference's cast does it:
    /// floats to integers truncate toward zero, saturating, NaN to 0 (CUDA's `cvt.rzi`); anything
    /// to bool is `x != 0`; to f16 or bf16, rounding once to nearest even.
    static func cast(from: DType, to: DType) -> ((String) -> String)? {
        guard CUDAPrelude.valueDTypes.contains(from), CUDAPrelude.valueDTypes.contains(to) else { return nil }
        switch to {
        case .bool: return from == .bool ? { $0 } : { "(\($0) != 0)" }
        case .f16: return { "ember_round_f16((float)(\($0)))" }
        case .bf16: return { "ember_round_bf16((float)(\($0)))" }
        default: return { "((\(CUDAPrelude.value(to)))(\($0)))" }
        }
    }
}

/// Why a node cannot run as a generated kernel.
struct Unsupported: Error, Sendable {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
