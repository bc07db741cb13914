import EmberIR
import EmberOps

extension TorchOps {
    static let activations: [String: TorchConverter] = dictionary([
        all(["aten.relu.default"], unary("relu")),
        all(["aten.sigmoid.default"], unary("sigmoid")),
        all(["aten.silu.default"], unary("silu")),
        all(["aten.mish.default"], unary("mish")),
        all(["aten.hardswish.default"], unary("hard_swish")),
        // relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1)
        all(["aten.hardsigmoid.default"], unary("hard_sigmoid", [("alpha", .float(1.0 / 6)), ("beta", .float(0.5))])),
        all(["aten.gelu.default"], { ctx in
            let approximate = try ctx.string("approximate", default: "none")
            try ctx.emitFinal("gelu", [try ctx.tensor("self")], [("approximate", .string(approximate))])
        }),
        all(["aten.leaky_relu.default"], { ctx in
            let slope = try ctx.float("negative_slope", default: 0.01)
            try ctx.emitFinal("leaky_relu", [try ctx.tensor("self")], [("alpha", .float(slope))])
        }),
        all(["aten.elu.default"], { ctx in
            // input_scale scales x inside exp only, which no Ember op does.
            guard try ctx.float("input_scale", default: 1) == 1 else {
                throw ctx.fail("input_scale other than 1 is not supported", .unsupported)
            }
            let x = try ctx.tensor("self")
            let alpha = try ctx.float("alpha", default: 1)
            let scale = try ctx.float("scale", default: 1)
            guard scale != 1 else { return try ctx.emitFinal("elu", [x], [("alpha", .float(alpha))]) }
            // scale * elu(x, alpha) is selu's formula (selu decomposes into it).
            try ctx.emitFinal("selu", [x], [("alpha", .float(alpha)), ("gamma", .float(scale))])
        }),
        all(["aten.softplus.default"], { ctx in
            // log(1 + exp(beta x)) / beta; torch's threshold only avoids overflow.
            let beta = try ctx.float("beta", default: 1)
            let x = try ctx.tensor("self")
            guard beta != 1 else { return try ctx.emitFinal("softplus", [x]) }
            let dtype = ctx.type(x).dtype
            let scaled = try ctx.emit1("softplus", [try ctx.emit1("mul", [x, ctx.scalar(beta, dtype)])])
            try ctx.emitFinal("div", [scaled, ctx.scalar(beta, dtype)])
        }),
        all(["aten.log_sigmoid.default"], { ctx in
            // log(sigmoid(x)) = -softplus(-x), without sigmoid's underflow to log(0).
            let x = try ctx.tensor("self")
            try ctx.emitFinal("neg", [try ctx.emit1("softplus", [try ctx.emit1("neg", [x])])])
        }),
        all(["aten.glu.default"], { ctx in
            // The first half times the sigmoid of the second, halved along dim.
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim", default: -1), rank: try ctx.rank(x))
            guard let size = ctx.type(x).shape?[dim].value, size % 2 == 0 else {
                throw ctx.fail("needs an even size known at import along dim \(dim)", .unsupported)
            }
            let halves = try ctx.emit("split", [x, ctx.ints([size / 2, size / 2])], [("axis", .int(dim))], outputs: 2)
            try ctx.emitFinal("mul", [halves[0], try ctx.emit1("sigmoid", [halves[1]])])
        }),
        all(["aten.hardshrink.default"], { ctx in
            let lambd = try ctx.float("lambd", default: 0.5)
            try ctx.emitFinal("shrink", [try ctx.tensor("self")], [("lambd", .float(lambd)), ("bias", .float(0))])
        }),
        all(["aten.softshrink.default"], { ctx in
            let lambd = try ctx.float("lambd", default: 0.5)
            try ctx.emitFinal("shrink", [try ctx.tensor("self")], [("lambd", .float(lambd)), ("bias", .float(lambd))])
        }),
        // In inference the slope is fixed at the middle of [lower, upper]; the noise passes through.
        all(["aten.rrelu.default", "aten.rrelu_with_noise_functional.default"], { ctx in
            guard try !ctx.bool("training", default: false) else {
                throw ctx.fail("rrelu in training mode draws random slopes; export the model in eval mode", .unsupported)
            }
            let slope = (try ctx.float("lower", default: 1.0 / 8) + ctx.float("upper", default: 1.0 / 3)) / 2
            let y = try ctx.emit1("leaky_relu", [try ctx.tensor("self")], [("alpha", .float(slope))])
            ctx.bind(ctx.has("noise") ? [y, try ctx.tensor("noise")] : [y])
        }),
        // torch's constants are ONNX's defaults.
        all(["aten.selu.default"], unary("selu")),
        all(["aten.celu.default"], { ctx in
            try ctx.emitFinal("celu", [try ctx.tensor("self")], [("alpha", .float(try ctx.float("alpha", default: 1)))])
        }),
        all(["aten.threshold.default"], { ctx in
            // x where x > threshold, else value.
            let x = try ctx.tensor("self")
            let threshold = try ctx.float("threshold")
            let value = try ctx.float("value")
            let dtype = ctx.type(x).dtype
            if value == 0, dtype.isFloatingPoint {
                return try ctx.emitFinal("thresholded_relu", [x], [("alpha", .float(threshold))])
            }
            let keep = try ctx.emit1("greater", [x, ctx.scalar(threshold, dtype)])
            try ctx.emitFinal("where", [keep, x, ctx.scalar(value, dtype)])
        }),
        all(["aten.prelu.default", "aten._prelu_kernel.default"], { ctx in
            // torch's weight holds one slope per channel (dim 1), or one for all.
            let x = try ctx.tensor("self")
            var slope = try ctx.tensor("weight")
            let rank = try ctx.rank(x)
            if rank > 2, try ctx.rank(slope) == 1 {
                slope = try ctx.emit1("unsqueeze", [slope, ctx.ints(Array(1..<(rank - 1)))])
            }
            try ctx.emitFinal("prelu", [x, slope])
        }),
        all(["aten.relu6.default"], { ctx in try ctx.clip(try ctx.tensor("self"), 0, 6) }),
        all(["aten.hardtanh.default"], { ctx in
            try ctx.clip(try ctx.tensor("self"), try ctx.float("min_val", default: -1), try ctx.float("max_val", default: 1))
        }),
        all(["aten.clamp.default"], { ctx in
            try ctx.clip(try ctx.tensor("self"), try ctx.number("min"), try ctx.number("max"))
        }),
        all(["aten.clamp_min.default"], { ctx in try ctx.clip(try ctx.tensor("self"), try ctx.number("min"), nil) }),
        all(["aten.clamp_max.default"], { ctx in try ctx.clip(try ctx.tensor("self"), nil, try ctx.number("max")) }),
        all(["aten.clamp.Tensor"], { ctx in
            let x = try ctx.tensor("self")
            let dtype = ctx.type(x).dtype
            var y = x
            if let lo = try ctx.optionalTensor("min") { y = try ctx.emit1("max", [y, try ctx.cast(lo, dtype)]) }
            if let hi = try ctx.optionalTensor("max") { y = try ctx.emit1("min", [y, try ctx.cast(hi, dtype)]) }
            try ctx.emitFinal("identity", [y])
        }),
        all(["aten.softmax.int", "aten._softmax.default", "aten._safe_softmax.default"], softmax("softmax")),
        all(["aten.log_softmax.int", "aten._log_softmax.default"], softmax("log_softmax")),
    ])

    private static func softmax(_ name: String) -> TorchConverter {
        { ctx in
            var x = try ctx.tensor("self")
            if let dtype = try ctx.dtype("dtype") { x = try ctx.cast(x, dtype) }
            if try ctx.bool("half_to_float", default: false) { x = try ctx.cast(x, .f32) }
            try ctx.emitFinal(name, [x], [("axis", .int(try ctx.int("dim")))])
        }
    }
}

extension TorchNodeContext {
    /// `clip(x, lo, hi)` with either bound optional.
    mutating func clip(_ x: ValueID, _ lo: Double?, _ hi: Double?) throws {
        let dtype = type(x).dtype
        let low = lo.map { scalar($0, dtype) }
        let high = hi.map { scalar($0, dtype) }
        try emitFinal("clip", high == nil ? [x, low] : [x, low, high])
    }
}
