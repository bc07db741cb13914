import EmberIR
import EmberOps

extension ONNXOps {
    static let convolution: [String: ONNXConverter] = [:]
}
