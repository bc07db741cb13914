import EmberIR
import EmberOps

/// Each elementwise op as a CUDA C++ expression: the op's `ScalarFormula` rendered in f32 for
/// float operands (f32, f16, bf16); comparisons, logic, casts and integer arithmetic in the
/// operands' own C types (see `CUDAPrelude.value`).
enum CUDAElementwiseExpression {
    /// The expression for `op` applied to `operands` (nil for an absent optional input) of dtypes
    /// `types`, giving a value of `resultType`, or why the op has no CUDA form.
    static func expression(
        _ op: any Operator, _ operands: [String?], types: [DType?], resultType: DType
    ) -> Result<String, EmberError> {
        if let typed = typedExpression(op, operands, types: types, resultType: resultType) { return typed }
        if let t = types.compactMap({ $0 }).first(where: { !CUDAPrelude.dtypes.contains($0) }) {
            return .failure(EmberError(.unsupported, "\(op.name) of \(t) has no generated CUDA form"))
        }
        guard let op = op as? any ScalarElementwise else {
            return .failure(EmberError(.unsupported, "\(op.name) has no generated CUDA form"))
        }
        let leaves = operands.indices.map { operands[$0] == nil ? nil : ScalarFormula.operand($0) }
        do {
            return .success(render(try op.formula(leaves), operands))
        } catch let error as EmberError {
            return .failure(EmberError(.unsupported, error.message))
        } catch {
            return .failure(EmberError(.unsupported, "\(op.name): \(error)"))
        }
    }

    /// `formula` in C, with `operands[i]` for `.operand(i)`.
    static func render(_ formula: ScalarFormula, _ operands: [String?]) -> String {
        switch formula {
        case .operand(let i): return operands[i] ?? "0.0f"
        case .constant(let c): return CUDAPrelude.literal(c)
        case .apply(let f, let x): return function(f, render(x, operands))
        case .combine(let f, let a, let b):
            let (a, b) = (render(a, operands), render(b, operands))
            switch f {
            case .add: return "(\(a) + \(b))"
            case .sub: return "(\(a) - \(b))"
            case .mul: return "(\(a) * \(b))"
            case .div: return "(\(a) / \(b))"
            case .max: return "fmaxf(\(a), \(b))"
            case .min: return "fminf(\(a), \(b))"
            case .pow: return "powf(\(a), \(b))"
            }
        case .select(let c, let then, let otherwise):
            let comparison =
                switch c.comparison {
                case .less: "<"
                case .lessOrEqual: "<="
                case .greater: ">"
                case .greaterOrEqual: ">="
                }
            return "((\(render(c.lhs, operands)) \(comparison) \(render(c.rhs, operands))) ? "
                + "\(render(then, operands)) : \(render(otherwise, operands)))"
        }
    }

    /// A primitive function of `x` in C.
    static func function(_ f: ScalarFunction, _ x: String) -> String {
        switch f {
        case .neg: "(-\(x))"
        case .abs: "fabsf(\(x))"
        case .sign: "(\(x) > 0.0f ? 1.0f : (\(x) < 0.0f ? -1.0f : \(x)))"
        case .floor: "floorf(\(x))"
        case .ceil: "ceilf(\(x))"
        case .round: "rintf(\(x))"
        case .sigmoid: "(1.0f / (1.0f + expf(-\(x))))"
        case .softplus: "ember_softplus(\(x))"
        // The rest are CUDA's single-precision math functions of the same name.
        case .exp, .expm1, .log, .log1p, .sqrt, .erf, .erfc, .tanh, .sin, .cos, .tan, .asin, .acos, .atan, .sinh,
            .cosh, .asinh, .acosh, .atanh:
            "\(f.rawValue)f(\(x))"
        }
    }
}

extension CUDAElementwiseExpression {
    /// The ops that also take integer and bool operands: comparisons, logic, `where`, casts and
    /// integer arithmetic that cannot overflow differently from the reference's wrapping. nil
    /// when `op` is not one of them (the float table above decides).
    static func typedExpression(
        _ op: any Operator, _ operands: [String?], types: [DType?], resultType: DType
    ) -> Result<String, EmberError>? {
        let isFloat = types.allSatisfy { $0.map(CUDAPrelude.dtypes.contains) ?? true }
        func args(_ n: Int) -> [String]? {
            let present = operands.compactMap { $0 }
            return present.count == n && operands.count == n ? present : nil
        }
        func need(_ n: Int, _ f: ([String]) -> String) -> Result<String, EmberError> {
            guard let a = args(n) else { return .failure(EmberError(.unsupported, "\(op.name) expects \(n) operands")) }
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
            guard let from = types.first ?? nil else { return .failure(EmberError(.unsupported, "cast expects one operand")) }
            return cast(from: from, to: o.to).map { f in need(1) { f($0[0]) } }
                ?? .failure(EmberError(.unsupported, "cast from \(from) to \(o.to) is not generated"))
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

