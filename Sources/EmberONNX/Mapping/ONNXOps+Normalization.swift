import EmberIR
import EmberOps

extension ONNXOps {
    static let normalization: [String: ONNXConverter] = [
        "BatchNormalization": .custom(batchNormalization),
        "LayerNormalization": .direct(LayerNorm.self),
        "GroupNormalization": .custom(groupNormalization),
        "InstanceNormalization": .direct(InstanceNorm.self),
        "RMSNormalization": .direct(RMSNorm.self),
        "LpNormalization": .direct(LpNorm.self),
        "MeanVarianceNormalization": .direct(MeanVarianceNorm.self),
    ]

    /// Inference batch norm only: `training_mode = 1` (opset 14+), or the running statistics
    /// outputs that opset 9 produced in training, are refused.
    private static func batchNormalization(_ ctx: inout ONNXNodeContext) throws {
        if try ctx.attributes.int("training_mode") ?? 0 != 0 {
            throw EmberError(
                .unsupported,
                "[BatchNormalization] expected training_mode = 0, received 1: Ember runs inference only (export the model in eval mode)")
        }
        guard ctx.outputCount <= 1 else {
            throw EmberError(
                .unsupported,
                "[BatchNormalization] expected 1 output (inference), received \(ctx.outputCount): the running mean and variance outputs exist only in training")
        }
        ctx.attributes["training_mode"] = nil
        ctx.attributes["momentum"] = nil
        try ctx.emitFinal(ctx.make(BatchNorm.self), ctx.inputs)
    }

    /// Opset 18 to 20 give one scale and bias per group; opset 21 one per channel. The older form
    /// becomes the newer by repeating each group's value over its channels.
    private static func groupNormalization(_ ctx: inout ONNXNodeContext) throws {
        guard ctx.opset < 21 else { return try ctx.emitFinal(ctx.make(GroupNorm.self), ctx.inputs) }
        guard let groups = try ctx.attributes.int("num_groups"), groups > 0 else {
            throw EmberError(.invalidModel, "[GroupNormalization] expected attribute num_groups > 0")
        }
        guard let channels = ctx.type(0)?.shape?.dropFirst().first?.value else {
            throw EmberError(
                .unsupported, "[GroupNormalization] opset \(ctx.opset) needs the input's channel count known at import")
        }
        guard channels % groups == 0 else {
            throw EmberError(
                .invalidModel, "[GroupNormalization] expected channels divisible by num_groups \(groups), received \(channels)")
        }
        for (slot, what) in [(1, "scale"), (2, "bias")] {
            guard let perGroup = ctx.constant(slot) else {
                throw EmberError(
                    .unsupported,
                    "[GroupNormalization] opset \(ctx.opset) with a non-constant \(what) is not supported (per-group \(what) is expanded to per-channel on import)")
            }
            guard perGroup.rank == 1, perGroup.count == groups else {
                throw EmberError(
                    .invalidModel, "[GroupNormalization] \(what) has shape \(perGroup.shape), expected [\(groups)]")
            }
            let repeats = channels / groups
            let indices = (0..<channels).map { $0 / repeats }
            ctx.inputs[slot] = ctx.constant(perGroup.gathering(indices, shape: [channels]), name: "\(ctx.nodeName)_\(what)")
        }
        try ctx.emitFinal(ctx.make(GroupNorm.self), ctx.inputs)
    }
}
