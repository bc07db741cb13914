import EmberIR
import EmberOps

extension ONNXOps {
    /// From opset 13 on, every elementwise op keeps its inputs and attributes in its newest form
    /// (later versions added dtypes, and Mod 28 defined `fmod = 0` for floats), so all but
    /// `CastLike` map directly.
    static let elementwise: [String: ONNXConverter] = [
        "Add": .direct(Add.self), "Sub": .direct(Sub.self), "Mul": .direct(Mul.self), "Div": .direct(Div.self),
        "Mod": .direct(Mod.self), "Pow": .direct(Pow.self),
        "Max": .direct(Max.self), "Min": .direct(Min.self), "Sum": .direct(Sum.self), "Mean": .direct(Mean.self),
        "Equal": .direct(Equal.self), "Less": .direct(Less.self), "LessOrEqual": .direct(LessOrEqual.self),
        "Greater": .direct(Greater.self), "GreaterOrEqual": .direct(GreaterOrEqual.self),
        "And": .direct(And.self), "Or": .direct(Or.self), "Xor": .direct(Xor.self), "Not": .direct(Not.self),
        "BitwiseAnd": .direct(BitwiseAnd.self), "BitwiseOr": .direct(BitwiseOr.self),
        "BitwiseXor": .direct(BitwiseXor.self), "BitwiseNot": .direct(BitwiseNot.self),
        "BitShift": .direct(BitShift.self),
        "Where": .direct(Where.self), "Cast": .direct(Cast.self), "CastLike": .custom(castLike),
        "Clip": .direct(Clip.self),
        "Abs": .direct(Abs.self), "Neg": .direct(Neg.self), "Sign": .direct(Sign.self),
        "Exp": .direct(Exp.self), "Log": .direct(Log.self), "Sqrt": .direct(Sqrt.self),
        "Reciprocal": .direct(Reciprocal.self), "Floor": .direct(Floor.self), "Ceil": .direct(Ceil.self),
        "Round": .direct(Round.self), "Erf": .direct(Erf.self),
        "Sin": .direct(Sin.self), "Cos": .direct(Cos.self), "Tan": .direct(Tan.self),
        "Asin": .direct(Asin.self), "Acos": .direct(Acos.self), "Atan": .direct(Atan.self),
        "Sinh": .direct(Sinh.self), "Cosh": .direct(Cosh.self), "Tanh": .direct(Tanh.self),
        "Asinh": .direct(Asinh.self), "Acosh": .direct(Acosh.self), "Atanh": .direct(Atanh.self),
        "IsNaN": .direct(IsNaN.self), "IsInf": .direct(IsInf.self),
        "Relu": .direct(Relu.self), "LeakyRelu": .direct(LeakyRelu.self), "PRelu": .direct(PRelu.self),
        "ThresholdedRelu": .direct(ThresholdedRelu.self), "Shrink": .direct(Shrink.self), "Elu": .direct(Elu.self), "Selu": .direct(Selu.self),
        "Celu": .direct(Celu.self), "Sigmoid": .direct(Sigmoid.self), "HardSigmoid": .direct(HardSigmoid.self),
        "HardSwish": .direct(HardSwish.self), "Softsign": .direct(Softsign.self), "Softplus": .direct(Softplus.self),
        "Mish": .direct(Mish.self), "Swish": .direct(Swish.self), "Gelu": .direct(Gelu.self),
    ]

    /// `CastLike(x, like)` is `Cast(x, to: dtype of like)`; the dtype is always known statically.
    private static let castLike: @Sendable (inout ONNXNodeContext) throws -> Void = { ctx in
        try ctx.attributes.expectOnly(["saturate", "round_mode"])
        _ = try ctx.input(1)
        guard let like = ctx.type(1) else {
            throw EmberError(.invalidModel, "[CastLike] input 1 has no type")
        }
        try ctx.emitFinal(Cast(to: like.dtype), [try ctx.input(0)])
    }
}
