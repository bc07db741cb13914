import EmberIR
import EmberOps

extension TorchOps {
    static let creation: [String: TorchConverter] = dictionary([
        all(["aten.full.default", "aten.new_full.default"], { ctx in
            try ctx.filled(try ctx.symInts("size"), try ctx.number("fill_value") ?? 0)
        }),
        all(["aten.zeros.default", "aten.new_zeros.default", "aten.empty.memory_format", "aten.new_empty.default"], { ctx in
            try ctx.filled(try ctx.symInts("size"), 0)
        }),
        all(["aten.ones.default", "aten.new_ones.default"], { ctx in try ctx.filled(try ctx.symInts("size"), 1) }),
        all(["aten.full_like.default"], { ctx in try ctx.filledLike(try ctx.number("fill_value") ?? 0) }),
        all(["aten.zeros_like.default", "aten.empty_like.default"], { ctx in try ctx.filledLike(0) }),
        all(["aten.ones_like.default"], { ctx in try ctx.filledLike(1) }),
        all(["aten.fill.Scalar"], { ctx in try ctx.filledLike(try ctx.number("value") ?? 0) }),
        all(["aten.scalar_tensor.default"], { ctx in
            let dtype = try ctx.outputType()?.dtype ?? ctx.dtype("dtype") ?? .f32
            let value = try ctx.number("s") ?? 0
            ctx.alias(ctx.constant(Tensor(dtype, shape: [], doubles: [value])))
        }),
        all(["aten.arange.default", "aten.arange.start", "aten.arange.start_step"], { ctx in
            let dtype = try ctx.outputType()?.dtype ?? ctx.dtype("dtype") ?? .i64
            // Byte ranges (eye decomposes into them) count in i64, then narrow.
            let counting: DType = dtype == .u8 ? .i64 : dtype
            let start = try ctx.rangeBound("start", default: 0, counting)
            let end = try ctx.rangeBound("end", default: nil, counting)
            let step = try ctx.rangeBound("step", default: 1, counting)
            guard counting != dtype else { return try ctx.emitFinal("range", [start, end, step]) }
            try ctx.emitFinal("cast", [try ctx.emit1("range", [start, end, step])], [("to", .dtype(dtype))])
        }),
        all(["aten.eye.default", "aten.eye.m"], { ctx in
            let dtype = try ctx.outputType()?.dtype ?? ctx.dtype("dtype") ?? .f32
            let n = try ctx.int("n")
            let m = ctx.has("m") ? try ctx.int("m") : n
            guard n >= 0, m >= 0 else { throw ctx.fail("expected non-negative sizes, received \(n) x \(m)", .invalidArgument) }
            try ctx.emitFinal("eye_like", [ctx.constant(Tensor(filling: 0, dtype, shape: [n, m]))])
        }),
        // Checks torch inserts: nothing to compute.
        all(["aten._assert_tensor_metadata.default", "aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default",
             "aten.sym_constrain_range.default", "aten._assert_async.msg", "aten._assert_async.default",
             "aten._functional_assert_scalar.default", "aten._functional_assert_async.msg"], { _ in }),
    ])
}

extension TorchNodeContext {
    /// A tensor of torch's output dtype filled with `value`.
    mutating func filled(_ sizes: [SymValue], _ value: Double) throws {
        let dtype = try outputType()?.dtype ?? dtype("dtype") ?? .f32
        if let shape = sizes.map(\.known) as? [Int], let n = Tensor.elementCount(shape), n <= 1 << 16 {
            return alias(constant(Tensor(filling: value, dtype, shape: shape)))
        }
        try emitFinal(
            "constant_of_shape", [try shapeVector(sizes)], [("value", .tensor(Tensor(dtype, shape: [1], doubles: [value])))])
    }

    /// A tensor shaped like `self`, filled with `value`.
    mutating func filledLike(_ value: Double) throws {
        let x = try tensor("self")
        let dtype = try outputType()?.dtype ?? dtype("dtype") ?? type(x).dtype
        if let shape = type(x).knownShape, let n = Tensor.elementCount(shape), n <= 1 << 16 {
            return alias(constant(Tensor(filling: value, dtype, shape: shape)))
        }
        let shape = try emit1("shape", [x])
        try emitFinal("constant_of_shape", [shape], [("value", .tensor(Tensor(dtype, shape: [1], doubles: [value])))])
    }

    /// A bound of `arange` as a scalar of `dtype`: a number, or a symbolic int computed at run time.
    mutating func rangeBound(_ name: String, default value: Double?, _ dtype: DType) throws -> ValueID {
        if !has(name) {
            guard let value else { throw fail("argument '\(name)' is required") }
            return scalar(value, dtype)
        }
        if let v = try number(name) { return scalar(v, dtype) }
        let s = try symInt(name)
        let r = try emit1("reshape", [try materialize(s), ints([])])
        return try cast(r, dtype)
    }
}
