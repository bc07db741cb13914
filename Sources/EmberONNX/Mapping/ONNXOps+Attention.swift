import EmberIR
import EmberOps

extension ONNXOps {
    static let attention: [String: ONNXConverter] = [:]
}
