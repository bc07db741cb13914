import EmberIR

/// Arithmetic, math functions, comparisons, logic, casts and activations.
public enum ElementwiseOps {
    public static let all: [any Operator.Type] = [
        Add.self, Sub.self, Mul.self, Div.self,
        Neg.self, Exp.self,
        Relu.self, LeakyRelu.self,
    ]
}
