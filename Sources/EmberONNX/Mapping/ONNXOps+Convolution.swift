import EmberIR
import EmberOps

extension ONNXOps {
    /// Older opsets of these ops only lack attributes the newest form adds (dilations on
    /// AveragePool-19, ceil_mode and dilations on LpPool-18), whose defaults keep the old meaning.
    static let convolution: [String: ONNXConverter] = [
        "Conv": .direct(Conv.self), "ConvTranspose": .direct(ConvTranspose.self),
        "MaxPool": .direct(MaxPool.self), "AveragePool": .direct(AveragePool.self), "LpPool": .direct(LpPool.self),
        "GlobalAveragePool": .direct(GlobalAveragePool.self), "GlobalMaxPool": .direct(GlobalMaxPool.self),
        "GlobalLpPool": .direct(GlobalLpPool.self),
    ]
}
