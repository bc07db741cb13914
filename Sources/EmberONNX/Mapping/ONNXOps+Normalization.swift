import EmberIR
import EmberOps

extension ONNXOps {
    static let normalization: [String: ONNXConverter] = [:]
}
