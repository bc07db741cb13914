import EmberIR
import EmberOps

extension TorchNodeContext {
    /// The dtype torch computes `names` in: the widest floating tensor, else a float scalar's f32,
    /// else the first tensor's type.
    func promotedType(_ names: [String]) throws -> DType {
        var tensorTypes: [DType] = []
        var floatScalar = false
        for name in names {
            if case .tensor? = arg(name), let id = try optionalTensor(name) {
                tensorTypes.append(type(id).dtype)
            } else if case .float? = arg(name) {
                floatScalar = true
            } else if case .symFloat? = arg(name) {
                floatScalar = true
            }
        }
        let order: [DType] = [.f64, .f32, .bf16, .f16]
        if let widest = order.first(where: tensorTypes.contains) {
            if tensorTypes.contains(.bf16), tensorTypes.contains(.f16), !tensorTypes.contains(.f32), !tensorTypes.contains(.f64) {
                return .f32
            }
            return widest
        }
        if floatScalar { return .f32 }
        if let first = tensorTypes.first(where: { $0 != .bool }) { return tensorTypes.contains(.i64) ? .i64 : first }
        return tensorTypes.first ?? .i64
    }

    /// An operand as a value of `dtype`: a tensor cast where needed, or a scalar as a constant.
    mutating func operand(_ name: String, _ dtype: DType) throws -> ValueID {
        if case .tensor? = arg(name), let id = try optionalTensor(name) { return try cast(id, dtype) }
        if let v = try number(name) { return scalar(v, dtype) }
        if case .symInt? = arg(name) {
            return try cast(try emit1("reshape", [try materialize(try symInt(name)), ints([])]), dtype)
        }
        throw fail("argument '\(name)' expected a tensor or a number")
    }

    /// `self` and `other` in the dtype torch computes the node in.
    mutating func operands(_ lhs: String = "self", _ rhs: String = "other", dtype: DType? = nil) throws -> (ValueID, ValueID) {
        let t = try dtype ?? promotedType([lhs, rhs])
        return (try operand(lhs, t), try operand(rhs, t))
    }

    /// The dtype of the node's first output as torch declares it, else the promoted inputs' type.
    func resultType(_ names: [String]) throws -> DType {
        try outputType()?.dtype ?? promotedType(names)
    }
}

extension TorchNodeContext {
    /// trunc(x) = sign(x) * floor(|x|), for floating x.
    mutating func truncated(_ x: ValueID) throws -> ValueID {
        let magnitude = try emit1("floor", [try emit1("abs", [x])])
        return try emit1("mul", [try emit1("sign", [x]), magnitude])
    }
}

extension TorchOps {
    /// `self op other`, computed in torch's result type; `alpha` scales `other` first.
    static func binary(_ name: String, alpha: Bool = false) -> TorchConverter {
        { ctx in
            let (a, b0) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
            var b = b0
            if alpha, let al = try ctx.optionalFloat("alpha"), al != 1 {
                b = try ctx.emit1("mul", [b, ctx.scalar(al, ctx.type(b).dtype)])
            }
            // On bools torch's product is a logical and (isfinite decomposes into one).
            if name == "mul", ctx.type(a).dtype == .bool { return try ctx.emitFinal("and", [a, b]) }
            try ctx.emitFinal(name, [a, b])
        }
    }

    /// A comparison: operands promoted to a common type, a bool result.
    static func compare(_ name: String, negate: Bool = false) -> TorchConverter {
        { ctx in
            let (a, b) = try ctx.operands()
            if negate {
                let r = try ctx.emit1(name, [a, b])
                try ctx.emitFinal("not", [r])
            } else {
                try ctx.emitFinal(name, [a, b])
            }
        }
    }

    /// A logical op on bool operands.
    static func logical(_ name: String) -> TorchConverter {
        { ctx in
            let (a, b) = try ctx.operands(dtype: .bool)
            try ctx.emitFinal(name, [a, b])
        }
    }

    /// `f(self)` for an Ember unary op of the same meaning.
    static func unary(_ name: String, _ attributes: [(String, Attribute)] = [], input: String = "self") -> TorchConverter {
        { ctx in
            let dtype = try ctx.resultType([input])
            try ctx.emitFinal(name, [try ctx.cast(try ctx.tensor(input), dtype)], attributes)
        }
    }

    static let elementwise: [String: TorchConverter] = dictionary([
        all(["aten.add.Tensor", "aten.add.Scalar"], binary("add", alpha: true)),
        all(["aten.sub.Tensor", "aten.sub.Scalar"], binary("sub", alpha: true)),
        all(["aten.mul.Tensor", "aten.mul.Scalar"], binary("mul")),
        all(["aten.div.Tensor", "aten.div.Scalar"], binary("div")),
        all(["aten.div.Tensor_mode", "aten.div.Scalar_mode"], divideWithMode),
        all(["aten.rsub.Scalar", "aten.rsub.Tensor"], reverseSubtract),
        all(["aten.pow.Tensor_Scalar", "aten.pow.Tensor_Tensor"], power),
        all(["aten.pow.Scalar"], { ctx in
            let dtype = try ctx.resultType(["self", "exponent"])
            try ctx.emitFinal("pow", [try ctx.operand("self", dtype), try ctx.operand("exponent", dtype)])
        }),
        all(["aten.maximum.default", "aten.max.other"], binary("max")),
        all(["aten.minimum.default", "aten.min.other"], binary("min")),
        all(["aten.remainder.Tensor", "aten.remainder.Scalar"], binary("mod")),
        all(["aten.fmod.Tensor", "aten.fmod.Scalar"], { ctx in
            let (a, b) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
            try ctx.emitFinal("mod", [a, b], [("fmod", .int(1))])
        }),
        all(["aten.floor_divide.default", "aten.floor_divide.Scalar"], { ctx in
            let (a, b) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
            try ctx.floorDivide(a, b)
        }),
        all(["aten.eq.Tensor", "aten.eq.Scalar"], compare("equal")),
        all(["aten.ne.Tensor", "aten.ne.Scalar"], compare("equal", negate: true)),
        all(["aten.lt.Tensor", "aten.lt.Scalar"], compare("less")),
        all(["aten.le.Tensor", "aten.le.Scalar"], compare("less_or_equal")),
        all(["aten.gt.Tensor", "aten.gt.Scalar"], compare("greater")),
        all(["aten.ge.Tensor", "aten.ge.Scalar"], compare("greater_or_equal")),
        all(["aten.logical_and.default", "aten.__and__.Tensor"], bitwiseOrLogical("and", "bitwise_and")),
        all(["aten.logical_or.default", "aten.__or__.Tensor"], bitwiseOrLogical("or", "bitwise_or")),
        all(["aten.logical_xor.default", "aten.__xor__.Tensor"], bitwiseOrLogical("xor", "bitwise_xor")),
        all(["aten.bitwise_and.Tensor", "aten.bitwise_and.Scalar"], bitwiseOrLogical("and", "bitwise_and")),
        all(["aten.bitwise_or.Tensor", "aten.bitwise_or.Scalar"], bitwiseOrLogical("or", "bitwise_or")),
        all(["aten.bitwise_xor.Tensor", "aten.bitwise_xor.Scalar"], bitwiseOrLogical("xor", "bitwise_xor")),
        all(["aten.logical_not.default"], { ctx in try ctx.emitFinal("not", [try ctx.cast(try ctx.tensor("self"), .bool)]) }),
        all(["aten.bitwise_not.default"], { ctx in
            let x = try ctx.tensor("self")
            try ctx.emitFinal(ctx.type(x).dtype == .bool ? "not" : "bitwise_not", [x])
        }),
        all(["aten.where.self", "aten.where.ScalarOther", "aten.where.ScalarSelf", "aten.where.Scalar"], { ctx in
            let condition = try ctx.cast(try ctx.tensor("condition"), .bool)
            let (a, b) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
            try ctx.emitFinal("where", [condition, a, b])
        }),
        all(["aten.masked_fill.Scalar", "aten.masked_fill.Tensor"], { ctx in
            let x = try ctx.tensor("self")
            let mask = try ctx.cast(try ctx.tensor("mask"), .bool)
            let fill = try ctx.operand("value", ctx.type(x).dtype)
            try ctx.emitFinal("where", [mask, fill, x])
        }),
        all(["aten.abs.default"], unary("abs")), all(["aten.neg.default"], unary("neg")),
        all(["aten.sign.default"], unary("sign")),
        all(["aten.exp.default"], unary("exp")), all(["aten.log.default"], unary("log")),
        all(["aten.sqrt.default"], unary("sqrt")), all(["aten.reciprocal.default"], unary("reciprocal")),
        all(["aten.floor.default"], unary("floor")), all(["aten.ceil.default"], unary("ceil")),
        all(["aten.round.default"], unary("round")), all(["aten.erf.default"], unary("erf")),
        all(["aten.sin.default"], unary("sin")), all(["aten.cos.default"], unary("cos")),
        all(["aten.tan.default"], unary("tan")), all(["aten.tanh.default"], unary("tanh")),
        all(["aten.atan.default"], unary("atan")),
        all(["aten.asin.default"], unary("asin")), all(["aten.acos.default"], unary("acos")),
        all(["aten.sinh.default"], unary("sinh")), all(["aten.cosh.default"], unary("cosh")),
        all(["aten.asinh.default"], unary("asinh")), all(["aten.acosh.default"], unary("acosh")),
        all(["aten.atanh.default"], unary("atanh")),
        all(["aten.__lshift__.Scalar", "aten.__lshift__.Tensor", "aten.bitwise_left_shift.Tensor",
             "aten.bitwise_left_shift.Tensor_Scalar", "aten.bitwise_left_shift.Scalar_Tensor"], shift("LEFT")),
        all(["aten.__rshift__.Scalar", "aten.__rshift__.Tensor", "aten.bitwise_right_shift.Tensor",
             "aten.bitwise_right_shift.Tensor_Scalar", "aten.bitwise_right_shift.Scalar_Tensor"], shift("RIGHT")),
        all(["aten.isnan.default"], unary("is_nan")), all(["aten.isinf.default"], unary("is_inf")),
        all(["aten.isfinite.default"], { ctx in
            let x = try ctx.tensor("self")
            guard ctx.type(x).dtype.isFloatingPoint else { return try ctx.filledLike(1) }
            let special = try ctx.emit1("or", [try ctx.emit1("is_inf", [x]), try ctx.emit1("is_nan", [x])])
            try ctx.emitFinal("not", [special])
        }),
        all(["aten.rsqrt.default"], { ctx in
            let x = try ctx.cast(try ctx.tensor("self"), try ctx.resultType(["self"]))
            try ctx.emitFinal("reciprocal", [try ctx.emit1("sqrt", [x])])
        }),
        all(["aten.log1p.default"], { ctx in
            let x = try ctx.cast(try ctx.tensor("self"), try ctx.resultType(["self"]))
            try ctx.emitFinal("log", [try ctx.emit1("add", [x, ctx.scalar(1, ctx.type(x).dtype)])])
        }),
        // ln 2 = 0.693...: log2(x) = ln(x) / ln 2 and 2^x = e^(x ln 2).
        all(["aten.lerp.Scalar", "aten.lerp.Tensor"], { ctx in
            // self + weight * (end - self)
            let dtype = try ctx.resultType(["self", "end"])
            let (start, end) = try ctx.operands("self", "end", dtype: dtype)
            let weight = try ctx.operand("weight", dtype)
            try ctx.emitFinal("add", [start, try ctx.emit1("mul", [weight, try ctx.emit1("sub", [end, start])])])
        }),
        all(["aten.addcmul.default"], pointwiseUpdate("mul")),
        all(["aten.addcdiv.default"], pointwiseUpdate("div")),
        all(["aten.log2.default"], { ctx in
            let x = try ctx.cast(try ctx.tensor("self"), try ctx.resultType(["self"]))
            try ctx.emitFinal("div", [try ctx.emit1("log", [x]), ctx.scalar(0.693147180559945309417232121458176568, ctx.type(x).dtype)])
        }),
        all(["aten.exp2.default"], { ctx in
            let x = try ctx.cast(try ctx.tensor("self"), try ctx.resultType(["self"]))
            try ctx.emitFinal("exp", [try ctx.emit1("mul", [x, ctx.scalar(0.693147180559945309417232121458176568, ctx.type(x).dtype)])])
        }),
        all(["aten.trunc.default", "aten.fix.default"], { ctx in
            let x = try ctx.tensor("self")
            guard ctx.type(x).dtype.isFloatingPoint else { return ctx.alias(x) }
            try ctx.emitFinal("identity", [try ctx.truncated(x)])
        }),
        all(["aten.frac.default"], { ctx in
            let x = try ctx.tensor("self")
            try ctx.emitFinal("sub", [x, try ctx.truncated(x)])
        }),
        all(["aten.expm1.default"], { ctx in
            let x = try ctx.cast(try ctx.tensor("self"), try ctx.resultType(["self"]))
            try ctx.emitFinal("sub", [try ctx.emit1("exp", [x]), ctx.scalar(1, ctx.type(x).dtype)])
        }),
        all(["aten.square.default"], { ctx in
            let x = try ctx.tensor("self")
            try ctx.emitFinal("mul", [x, x])
        }),
    ])

    /// `addcmul` / `addcdiv`: self + value * (tensor1 op tensor2).
    private static func pointwiseUpdate(_ name: String) -> TorchConverter {
        { ctx in
            let dtype = try ctx.resultType(["self", "tensor1", "tensor2"])
            let (a, b) = try ctx.operands("tensor1", "tensor2", dtype: dtype)
            var update = try ctx.emit1(name, [a, b])
            let value = try ctx.number("value") ?? 1
            if value != 1 { update = try ctx.emit1("mul", [update, ctx.scalar(value, dtype)]) }
            try ctx.emitFinal("add", [try ctx.operand("self", dtype), update])
        }
    }

    /// `self << other` or `self >> other` on integers (right shifts of signed types are arithmetic, as in torch).
    private static func shift(_ direction: String) -> TorchConverter {
        { ctx in
            let (a, b) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
            guard !ctx.type(a).dtype.isFloatingPoint, ctx.type(a).dtype != .bool else {
                throw ctx.fail("expected integer operands, received \(ctx.type(a).dtype)", .invalidArgument)
            }
            try ctx.emitFinal("bit_shift", [a, b], [("direction", .string(direction))])
        }
    }

    private static func bitwiseOrLogical(_ logical: String, _ bitwise: String) -> TorchConverter {
        { ctx in
            let dtype = try ctx.resultType(["self", "other"])
            let (a, b) = try ctx.operands(dtype: dtype)
            try ctx.emitFinal(dtype == .bool ? logical : bitwise, [a, b])
        }
    }

    private static func divideWithMode(_ ctx: inout TorchNodeContext) throws {
        let mode = try ctx.string("rounding_mode", default: "")
        let (a, b) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
        switch mode {
        case "": try ctx.emitFinal("div", [a, b])
        case "trunc":
            if ctx.type(a).dtype.isFloatingPoint {
                // trunc(q) = sign(q) * floor(|q|)
                let q = try ctx.emit1("div", [a, b])
                let magnitude = try ctx.emit1("floor", [try ctx.emit1("abs", [q])])
                try ctx.emitFinal("mul", [try ctx.emit1("sign", [q]), magnitude])
            } else {
                try ctx.emitFinal("div", [a, b])  // integer division truncates
            }
        case "floor": try ctx.floorDivide(a, b)
        default: throw ctx.fail("rounding_mode '\(mode)' is not supported", .unsupported)
        }
    }

    private static func reverseSubtract(_ ctx: inout TorchNodeContext) throws {
        let (a0, b) = try ctx.operands(dtype: try ctx.resultType(["self", "other"]))
        var a = a0
        if let al = try ctx.optionalFloat("alpha"), al != 1 {
            a = try ctx.emit1("mul", [a, ctx.scalar(al, ctx.type(a).dtype)])
        }
        try ctx.emitFinal("sub", [b, a])
    }

    private static func power(_ ctx: inout TorchNodeContext) throws {
        let dtype = try ctx.resultType(["self", "exponent"])
        let x = try ctx.operand("self", dtype)
        if let e = try ctx.number("exponent") {
            switch e {
            case 1: return ctx.alias(x)
            case 2: return try ctx.emitFinal("mul", [x, x])
            case 0.5 where dtype.isFloatingPoint: return try ctx.emitFinal("sqrt", [x])
            default: break
            }
        }
        try ctx.emitFinal("pow", [x, try ctx.operand("exponent", dtype)])
    }
}

extension TorchNodeContext {
    /// Python's `//`: floor of the quotient (for integers: the truncated quotient, less one where
    /// the signs differ and there is a remainder).
    mutating func floorDivide(_ a: ValueID, _ b: ValueID) throws {
        let dtype = type(a).dtype
        if dtype.isFloatingPoint {
            return try emitFinal("floor", [try emit1("div", [a, b])])
        }
        let q = try emit1("div", [a, b])
        let r = try emit1("mod", [a, b], [("fmod", .int(1))])
        let zero = scalar(0, dtype)
        let hasRemainder = try emit1("not", [try emit1("equal", [r, zero])])
        let signsDiffer = try emit1("xor", [try emit1("less", [a, zero]), try emit1("less", [b, zero])])
        let adjust = try emit1("and", [hasRemainder, signsDiffer])
        try emitFinal("sub", [q, try emit1("cast", [adjust], [("to", .dtype(dtype))])])
    }
}
