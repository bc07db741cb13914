import EmberIR

/// Arithmetic, math functions, comparisons, logic, casts and activations.
public enum ElementwiseOps {
    public static let all: [any Operator.Type] = [
        Add.self, Sub.self, Mul.self, Div.self, Mod.self, Pow.self,
        Max.self, Min.self, Sum.self, Mean.self,
        Equal.self, Less.self, LessOrEqual.self, Greater.self, GreaterOrEqual.self,
        And.self, Or.self, Xor.self, Not.self,
        BitwiseAnd.self, BitwiseOr.self, BitwiseXor.self, BitwiseNot.self, BitShift.self,
        Where.self, Cast.self, Clip.self,
        Abs.self, Neg.self, Sign.self, Exp.self, Log.self, Sqrt.self, Reciprocal.self,
        Floor.self, Ceil.self, Round.self, Erf.self,
        Sin.self, Cos.self, Tan.self, Asin.self, Acos.self, Atan.self,
        Sinh.self, Cosh.self, Tanh.self, Asinh.self, Acosh.self, Atanh.self,
        IsNaN.self, IsInf.self,
        Relu.self, LeakyRelu.self, PRelu.self, ThresholdedRelu.self, Shrink.self, Elu.self, Selu.self, Celu.self,
        Sigmoid.self, HardSigmoid.self, HardSwish.self, Softsign.self, Softplus.self, Mish.self,
        Silu.self, Swish.self, Gelu.self,
    ]
}
