import EmberIR
import EmberOps

extension TorchOps {
    static let reduction: [String: TorchConverter] = dictionary([
        all(["aten.mean.dim", "aten.mean.default"], reduce("reduce_mean")),
        all(["aten.sum.dim_IntList", "aten.sum.default"], reduce("reduce_sum")),
        all(["aten.amax.default"], reduce("reduce_max")),
        all(["aten.amin.default"], reduce("reduce_min")),
        all(["aten.prod.dim_int"], reduce("reduce_prod")),
        all(["aten.any.dim", "aten.any.dims", "aten.any.default"], boolReduce("reduce_max")),
        all(["aten.all.dim", "aten.all.dims", "aten.all.default"], boolReduce("reduce_min")),
        all(["aten.max.default"], reduce("reduce_max")),
        all(["aten.min.default"], reduce("reduce_min")),
        all(["aten.max.dim"], reduceWithIndex("reduce_max", "arg_max")),
        all(["aten.min.dim"], reduceWithIndex("reduce_min", "arg_min")),
        all(["aten.logsumexp.default"], reduce("reduce_log_sum_exp")),
        all(["aten.linalg_vector_norm.default"], vectorNorm),
        all(["aten.var.correction", "aten.var.dim"], { ctx in ctx.alias(try variance(&ctx).variance) }),
        all(["aten.std.correction", "aten.std.dim"], { ctx in try ctx.emitFinal("sqrt", [try variance(&ctx).variance]) }),
        all(["aten.var_mean.correction", "aten.var_mean.dim"], { ctx in
            let (variance, mean) = try variance(&ctx)
            ctx.bind([variance, mean])
        }),
        all(["aten.std_mean.correction", "aten.std_mean.dim"], { ctx in
            let (variance, mean) = try variance(&ctx)
            ctx.bind([try ctx.emit1("sqrt", [variance]), mean])
        }),
        all(["aten.sort.default", "aten.sort.stable"], { ctx in
            let (values, indices) = try sort(&ctx)
            ctx.bind([values, indices])
        }),
        all(["aten.argsort.default", "aten.argsort.stable"], { ctx in ctx.alias(try sort(&ctx).indices) }),
        all(["aten.argmax.default"], argReduce("arg_max")),
        all(["aten.argmin.default"], argReduce("arg_min")),
        all(["aten.cumsum.default"], { ctx in
            var x = try ctx.tensor("self")
            if let dtype = try ctx.dtype("dtype") { x = try ctx.cast(x, dtype) }
            else if !ctx.type(x).dtype.isFloatingPoint { x = try ctx.cast(x, .i64) }
            try ctx.emitFinal("cum_sum", [x, ctx.ints([try ctx.int("dim")])])
        }),
        all(["aten.topk.default"], { ctx in
            let attributes: [(String, Attribute)] = [
                ("axis", .int(try ctx.int("dim", default: -1))),
                ("largest", .int(try ctx.bool("largest", default: true) ? 1 : 0)),
                ("sorted", .int(try ctx.bool("sorted", default: true) ? 1 : 0)),
            ]
            try ctx.emitFinal("top_k", [try ctx.tensor("self"), ctx.ints([try ctx.int("k")])], attributes, outputs: 2)
        }),
    ])

    /// The axes a reduction names: all of them when `dim` is absent or empty.
    static func reductionAxes(_ ctx: TorchNodeContext, _ x: ValueID) throws -> [Int] {
        let rank = try ctx.rank(x)
        let given: [Int] = ctx.has("dim") ? try ctx.ints("dim") : []
        return given.isEmpty ? Array(0..<rank) : given
    }

    private static func reduce(_ name: String) -> TorchConverter {
        { ctx in
            var x = try ctx.tensor("self")
            if let dtype = try ctx.dtype("dtype") { x = try ctx.cast(x, dtype) }
            else if name == "reduce_sum" || name == "reduce_prod", !ctx.type(x).dtype.isFloatingPoint {
                x = try ctx.cast(x, .i64)  // torch sums integers and bools in int64
            }
            let axes = try reductionAxes(ctx, x)
            let keep = try ctx.bool("keepdim", default: false)
            try ctx.emitFinal(name, [x, ctx.ints(axes)], [("keepdims", .int(keep ? 1 : 0))])
        }
    }

    private static func boolReduce(_ name: String) -> TorchConverter {
        { ctx in
            let x = try ctx.cast(try ctx.tensor("self"), .u8)
            let axes = try reductionAxes(ctx, x)
            let keep = try ctx.bool("keepdim", default: false)
            let r = try ctx.emit1(name, [x, ctx.ints(axes)], [("keepdims", .int(keep ? 1 : 0))])
            try ctx.emitFinal("cast", [r], [("to", .dtype(.bool))])
        }
    }

    /// mean((x - mean(x))^2) * n / (n - correction), and the mean, both as torch's `keepdim` asks.
    private static func variance(_ ctx: inout TorchNodeContext) throws -> (variance: ValueID, mean: ValueID) {
        let x = try ctx.tensor("self")
        let axes = try reductionAxes(ctx, x)
        let keep = try ctx.bool("keepdim", default: false)
        let correction: Double = ctx.has("correction") ? try ctx.float("correction") : (try ctx.bool("unbiased", default: true) ? 1 : 0)
        guard let shape = ctx.type(x).shape else { throw ctx.fail("needs the input's rank") }
        let sizes = axes.map { shape[$0 < 0 ? $0 + shape.count : $0].value }
        guard sizes.allSatisfy({ $0 != nil }) else { throw ctx.fail("needs the reduced dims known at import", .unsupported) }
        let n = Double(sizes.compactMap { $0 }.reduce(1, *))
        let dtype = ctx.type(x).dtype
        let axesValue = ctx.ints(axes)
        let mean = try ctx.emit1("reduce_mean", [x, axesValue], [("keepdims", .int(1))])
        let centered = try ctx.emit1("sub", [x, mean])
        let squared = try ctx.emit1("mul", [centered, centered])
        var m = try ctx.emit1("reduce_mean", [squared, axesValue], [("keepdims", .int(keep ? 1 : 0))])
        if correction != 0 { m = try ctx.emit1("mul", [m, ctx.scalar(n / max(n - correction, 0), dtype)]) }
        return (m, keep ? mean : try ctx.emit1("squeeze", [mean, axesValue]))
    }

    /// `max.dim` / `min.dim`: the values and their indices along one dim.
    private static func reduceWithIndex(_ reduce: String, _ arg: String) -> TorchConverter {
        { ctx in
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x))
            let keep: Attribute = .int(try ctx.bool("keepdim", default: false) ? 1 : 0)
            let values = try ctx.emit1(reduce, [x, ctx.ints([dim])], [("keepdims", keep)])
            let indices = try ctx.emit1(arg, [x], [("axis", .int(dim)), ("keepdims", keep)])
            ctx.bind([values, indices])
        }
    }

    /// `linalg_vector_norm` for the orders Ember has a reduction for: 1, 2 and ±infinity.
    private static func vectorNorm(_ ctx: inout TorchNodeContext) throws {
        var x = try ctx.tensor("self")
        if let dtype = try ctx.dtype("dtype") { x = try ctx.cast(x, dtype) }
        let order = try ctx.float("ord", default: 2)
        let axes = try reductionAxes(ctx, x)
        let keep: [(String, Attribute)] = [("keepdims", .int(try ctx.bool("keepdim", default: false) ? 1 : 0))]
        switch order {
        case 2: try ctx.emitFinal("reduce_l2", [x, ctx.ints(axes)], keep)
        case 1: try ctx.emitFinal("reduce_l1", [x, ctx.ints(axes)], keep)
        case .infinity: try ctx.emitFinal("reduce_max", [try ctx.emit1("abs", [x]), ctx.ints(axes)], keep)
        case -.infinity: try ctx.emitFinal("reduce_min", [try ctx.emit1("abs", [x]), ctx.ints(axes)], keep)
        default: throw ctx.fail("ord \(order) is not supported (1, 2, inf and -inf are)", .unsupported)
        }
    }

    /// A full sort along one dim: a top-k with k the dim's size.
    private static func sort(_ ctx: inout TorchNodeContext) throws -> (values: ValueID, indices: ValueID) {
        let x = try ctx.tensor("self")
        let dim = try ctx.axis(try ctx.int("dim", default: -1), rank: try ctx.rank(x))
        guard let size = ctx.type(x).shape?[dim].value else { throw ctx.fail("needs the sorted dim known at import", .unsupported) }
        let attributes: [(String, Attribute)] = [
            ("axis", .int(dim)), ("largest", .int(try ctx.bool("descending", default: false) ? 1 : 0)), ("sorted", .int(1)),
        ]
        let outputs = try ctx.emit("top_k", [x, ctx.ints([size])], attributes, outputs: 2)
        return (outputs[0], outputs[1])
    }

    private static func argReduce(_ name: String) -> TorchConverter {
        { ctx in
            var x = try ctx.tensor("self")
            let keep = try ctx.bool("keepdim", default: false)
            guard let dim = try ctx.optionalInt("dim") else {
                x = try ctx.emit1("reshape", [x, ctx.ints([-1])])
                return try ctx.emitFinal(name, [x], [("axis", .int(0)), ("keepdims", .int(0))])
            }
            try ctx.emitFinal(name, [x], [("axis", .int(dim)), ("keepdims", .int(keep ? 1 : 0))])
        }
    }
}
