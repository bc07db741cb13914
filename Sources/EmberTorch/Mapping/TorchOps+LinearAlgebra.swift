import EmberIR
import EmberOps

extension TorchOps {
    static let linearAlgebra: [String: TorchConverter] = dictionary([
        // x W^T + b; a constant W is transposed once, here.
        all(["aten.linear.default"], { ctx in
            let x = try ctx.tensor("input")
            let w = try ctx.tensor("weight")
            let wt = try ctx.transposed(w)
            guard let bias = try ctx.optionalTensor("bias") else { return try ctx.emitFinal("matmul", [x, wt]) }
            try ctx.emitFinal("add", [try ctx.emit1("matmul", [x, wt]), bias])
        }),
        all(["aten.addmm.default"], { ctx in
            let beta = try ctx.float("beta", default: 1)
            let alpha = try ctx.float("alpha", default: 1)
            try ctx.emitFinal(
                "gemm", [try ctx.tensor("mat1"), try ctx.tensor("mat2"), try ctx.tensor("self")],
                [("alpha", .float(alpha)), ("beta", .float(beta))])
        }),
        all(["aten.mm.default", "aten.bmm.default"], { ctx in
            try ctx.emitFinal("matmul", [try ctx.tensor("self"), try ctx.tensor("mat2")])
        }),
        all(["aten.matmul.default"], { ctx in
            try ctx.emitFinal("matmul", [try ctx.tensor("self"), try ctx.tensor("other")])
        }),
        all(["aten.mv.default"], { ctx in
            try ctx.emitFinal("matmul", [try ctx.tensor("self"), try ctx.tensor("vec")])
        }),
        all(["aten.dot.default"], { ctx in
            try ctx.emitFinal("matmul", [try ctx.tensor("self"), try ctx.tensor("tensor")])
        }),
        all(["aten.outer.default", "aten.ger.default"], { ctx in
            let column = try ctx.emit1("unsqueeze", [try ctx.tensor("self"), ctx.ints([1])])
            try ctx.emitFinal("mul", [column, try ctx.tensor("vec2")])
        }),
        all(["aten.addmv.default"], { ctx in
            try scaledSum(&ctx, try ctx.emit1("matmul", [try ctx.tensor("mat"), try ctx.tensor("vec")]))
        }),
        all(["aten.baddbmm.default"], { ctx in
            try scaledSum(&ctx, try ctx.emit1("matmul", [try ctx.tensor("batch1"), try ctx.tensor("batch2")]))
        }),
        all(["aten.einsum.default"], { ctx in
            guard case .string(let equation)? = ctx.arg("equation") else { throw ctx.fail("expected an equation") }
            try ctx.emitFinal("einsum", try ctx.tensors("tensors"), [("equation", .string(equation))])
        }),
        all(["aten.scaled_dot_product_attention.default"], { ctx in
            guard try ctx.float("dropout_p", default: 0) == 0 else {
                throw ctx.fail("dropout_p other than 0 is training-only", .unsupported)
            }
            let q = try ctx.tensor("query")
            guard try ctx.rank(q) == 4 else { throw ctx.fail("expected 4-D query, key and value", .unsupported) }
            var attributes: [(String, Attribute)] = []
            if try ctx.bool("is_causal", default: false) { attributes.append(("is_causal", .int(1))) }
            if let scale = try ctx.optionalFloat("scale") { attributes.append(("scale", .float(scale))) }
            var mask = try ctx.optionalTensor("attn_mask")
            if let m = mask, ctx.type(m).dtype != .bool { mask = try ctx.cast(m, ctx.type(q).dtype) }
            let inputs: [ValueID?] = [q, try ctx.tensor("key"), try ctx.tensor("value")] + (mask.map { [$0] } ?? [])
            try ctx.emitFinal("attention", inputs, attributes)
        }),
    ])

    /// `beta * self + alpha * product`, as `baddbmm` and `addmv` compute.
    private static func scaledSum(_ ctx: inout TorchNodeContext, _ product: ValueID) throws {
        let dtype = ctx.type(product).dtype
        let alpha = try ctx.float("alpha", default: 1)
        let beta = try ctx.float("beta", default: 1)
        let scaled = alpha == 1 ? product : try ctx.emit1("mul", [product, ctx.scalar(alpha, dtype)])
        var base = try ctx.tensor("self")
        if beta != 1 { base = try ctx.emit1("mul", [base, ctx.scalar(beta, dtype)]) }
        try ctx.emitFinal("add", [base, scaled])
    }
}

extension TorchNodeContext {
    /// A 2-D matrix transposed: folded when it is a constant.
    mutating func transposed(_ w: ValueID) throws -> ValueID {
        if let t = constantValue(w), t.rank == 2 {
            let (rows, cols) = (t.shape[0], t.shape[1])
            var indices = [Int](repeating: 0, count: t.count)
            for i in 0..<cols { for j in 0..<rows { indices[i * rows + j] = j * cols + i } }
            return builder.constant(t.gathering(indices, shape: [cols, rows]), name: "\(builder.graph.name(of: w))_t")
        }
        return try emit1("transpose", [w], [("perm", .ints([1, 0]))])
    }
}
