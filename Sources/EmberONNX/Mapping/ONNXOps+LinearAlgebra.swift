import EmberIR
import EmberOps

extension ONNXOps {
    static let linearAlgebra: [String: ONNXConverter] = [:]
}
