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
        all(["aten.var.correction", "aten.var.dim"], variance),
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

    /// mean((x - mean(x))^2) * n / (n - correction).
    private static func variance(_ ctx: inout TorchNodeContext) throws {
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
        let m = try ctx.emit1("reduce_mean", [squared, axesValue], [("keepdims", .int(keep ? 1 : 0))])
        guard correction != 0 else { return ctx.alias(m) }
        try ctx.emitFinal("mul", [m, ctx.scalar(n / max(n - correction, 0), dtype)])
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
