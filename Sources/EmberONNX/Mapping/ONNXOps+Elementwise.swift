import EmberIR
import EmberOps

extension ONNXOps {
    static let elementwise: [String: ONNXConverter] = [
        "Add": .direct(Add.self), "Sub": .direct(Sub.self), "Mul": .direct(Mul.self), "Div": .direct(Div.self),
        "Neg": .direct(Neg.self), "Exp": .direct(Exp.self),
        "Relu": .direct(Relu.self), "LeakyRelu": .direct(LeakyRelu.self),
    ]
}
