import EmberIR
import EmberOps

extension ONNXOps {
    /// Attention-23 is Attention-24 without the `nonpad_kv_seqlen` input, and Attention-25 adds
    /// the sliding window attributes; Ember's op is the newest form, so all map directly.
    static let attention: [String: ONNXConverter] = [
        "Attention": .direct(Attention.self),
    ]
}
