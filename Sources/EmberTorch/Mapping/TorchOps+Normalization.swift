import EmberIR
import EmberOps

extension TorchOps {
    static let normalization: [String: TorchConverter] = dictionary([
        all(["aten.batch_norm.default", "aten.native_batch_norm.default", "aten._native_batch_norm_legit.default"], { ctx in
            guard try ctx.bool("training", default: false) else { return try batchNorm(&ctx) }
            // Batch statistics with no running ones to update: a pure function of the input.
            guard ctx.has("running_mean") || ctx.has("running_var") else { return try batchStatisticsNorm(&ctx) }
            throw ctx.fail("expected training = False, received True: Ember runs inference only (export the model in eval mode)", .unsupported)
        }),
        all(["aten._native_batch_norm_legit_no_training.default"], batchNorm),
        all(["aten.instance_norm.default"], { ctx in
            guard try ctx.bool("use_input_stats", default: true) else {
                // Normalized by the running statistics: an inference batch norm.
                return try batchNorm(&ctx)
            }
            let x = try ctx.tensor("input")
            let (scale, bias) = try affine(&ctx, x)
            try ctx.emitFinal("instance_norm", [x, scale, bias], [("epsilon", .float(try ctx.float("eps", default: 1e-5)))])
        }),
        // Batch statistics without running ones: what instance_norm decomposes into.
        all(["aten._native_batch_norm_legit.no_stats"], { ctx in
            guard try ctx.bool("training", default: true) else {
                throw ctx.fail("expected training = True without running statistics", .invalidArgument)
            }
            try batchStatisticsNorm(&ctx)
        }),
        all(["aten.layer_norm.default", "aten.native_layer_norm.default"], { ctx in
            let x = try ctx.tensor("input")
            let normalized = try ctx.ints("normalized_shape")
            let dtype = ctx.type(x).dtype
            let scale = try ctx.optionalTensor("weight") ?? ctx.constant(Tensor(filling: 1, dtype, shape: normalized))
            let bias = try ctx.optionalTensor("bias")
            try ctx.emitFinal(
                "layer_norm", [x, scale, bias],
                [("axis", .int(-normalized.count)), ("epsilon", .float(try ctx.float("eps", default: 1e-5)))])
        }),
        all(["aten.group_norm.default", "aten.native_group_norm.default"], { ctx in
            let x = try ctx.tensor("input")
            let groups = ctx.has("num_groups") ? try ctx.int("num_groups") : try ctx.int("group")
            guard let channels = ctx.type(x).shape?.dropFirst().first?.value else {
                throw ctx.fail("needs the input's channel count known at import", .unsupported)
            }
            let dtype = ctx.type(x).dtype
            let scale = try ctx.optionalTensor("weight") ?? ctx.constant(Tensor(filling: 1, dtype, shape: [channels]))
            let bias = try ctx.optionalTensor("bias") ?? ctx.constant(Tensor(filling: 0, dtype, shape: [channels]))
            try ctx.emitFinal(
                "group_norm", [x, scale, bias],
                [("num_groups", .int(groups)), ("epsilon", .float(try ctx.float("eps", default: 1e-5)))])
        }),
        all(["aten.rms_norm.default"], { ctx in
            let x = try ctx.tensor("input")
            let normalized = try ctx.ints("normalized_shape")
            let dtype = ctx.type(x).dtype
            let scale = try ctx.optionalTensor("weight") ?? ctx.constant(Tensor(filling: 1, dtype, shape: normalized))
            var attributes: [(String, Attribute)] = [("axis", .int(-normalized.count))]
            if let eps = try ctx.optionalFloat("eps") { attributes.append(("epsilon", .float(eps))) }
            else if dtype == .f32 { attributes.append(("epsilon", .float(Double(Float.ulpOfOne)))) }
            try ctx.emitFinal("rms_norm", [x, scale], attributes)
        }),
    ])

    /// Batch norm by the batch's own statistics, as instance_norm's decomposition computes it on the
    /// input viewed as [1, N*C, ...]. With a batch of one that is an instance norm; otherwise the
    /// batch dim moves next to the spatial dims, so that one instance norm covers it.
    private static func batchStatisticsNorm(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("input")
        let (scale, bias) = try affine(&ctx, x)
        let epsilon: [(String, Attribute)] = [("epsilon", .float(try ctx.float("eps", default: 1e-5)))]
        let rank = try ctx.rank(x)
        guard rank >= 2 else { throw ctx.fail("expected an input of rank 2 or more, received rank \(rank)", .invalidArgument) }
        if ctx.type(x).shape?.first?.value == 1 { return try ctx.emitFinal("instance_norm", [x, scale, bias], epsilon) }
        var swap = Array(0..<rank)
        swap.swapAt(0, 1)
        let moved = try ctx.emit1("unsqueeze", [try ctx.emit1("transpose", [x], [("perm", .ints(swap))]), ctx.ints([0])])
        let normalized = try ctx.emit1("instance_norm", [moved, scale, bias], epsilon)
        let squeezed = try ctx.emit1("squeeze", [normalized, ctx.ints([0])])
        try ctx.emitFinal("transpose", [squeezed], [("perm", .ints(swap))])
    }

    /// The per-channel weight and bias, ones and zeros where absent.
    private static func affine(_ ctx: inout TorchNodeContext, _ x: ValueID) throws -> (ValueID, ValueID) {
        guard let channels = ctx.type(x).shape?.dropFirst().first?.value else {
            throw ctx.fail("needs the input's channel count known at import", .unsupported)
        }
        let dtype = ctx.type(x).dtype
        let scale = try ctx.optionalTensor("weight") ?? ctx.constant(Tensor(filling: 1, dtype, shape: [channels]))
        let bias = try ctx.optionalTensor("bias") ?? ctx.constant(Tensor(filling: 0, dtype, shape: [channels]))
        return (scale, bias)
    }

    /// Inference batch norm; absent weight and bias are ones and zeros.
    private static func batchNorm(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("input")
        let mean = try ctx.tensor("running_mean")
        let variance = try ctx.tensor("running_var")
        let dtype = ctx.type(x).dtype
        let channels = ctx.type(mean).shape?.first?.value ?? 0
        let scale = try ctx.optionalTensor("weight") ?? ctx.constant(Tensor(filling: 1, dtype, shape: [channels]))
        let bias = try ctx.optionalTensor("bias") ?? ctx.constant(Tensor(filling: 0, dtype, shape: [channels]))
        try ctx.emitFinal(
            "batch_norm", [x, scale, bias, mean, variance], [("epsilon", .float(try ctx.float("eps", default: 1e-5)))])
    }
}
