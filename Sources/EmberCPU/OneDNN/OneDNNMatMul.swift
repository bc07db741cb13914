import EmberDNNL
import EmberIR
import EmberOps

/// `matmul`, `linear` and `gemm` as oneDNN's matmul primitive, with the epilogue as post-ops.
/// Leading dims of the first operand are folded into the rows when the second is 2-D. A constant
/// 2-D second operand is reordered once per plan into the primitive's preferred format.
struct MatMulBuilder: PlanBuilder {
    enum Kind {
        case matmul
        case linear
        case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    }

    var node: KernelNode
    let kind: Kind
    let a: Int, b: Int
    /// Linear's bias or gemm's C, added through the bias argument.
    let bias: Int?
    let postOps: [PostOp]
    let alpha: Float
    let constants: [AlignedBuffer?]
    /// The constant weight in the formats the plans chose.
    let packedWeights: PackedWeights?

    init(_ node: KernelNode, _ epilogue: Epilogue) throws {
        self.node = node
        guard let a = epilogue.operands[0], let b = epilogue.operands[1] else { throw EmberError(.unsupported, "a matrix product without two operands") }
        (self.a, self.b) = (a, b)
        let third = epilogue.operands.count > 2 ? epilogue.operands[2] : nil
        var postOps = epilogue.postOps
        var scaled: (Int, Float)?
        switch epilogue.anchor {
        case let gemm as Gemm:
            kind = .gemm(alpha: Float(gemm.alpha), beta: Float(gemm.beta), transA: gemm.transA, transB: gemm.transB)
            alpha = Float(gemm.alpha)
            if let c = third, gemm.beta != 0 {
                guard gemm.beta == 1 || node.constants[c] != nil else { throw EmberError(.unsupported, "gemm with beta \(gemm.beta) and a computed C") }
                if gemm.beta != 1 { scaled = (c, Float(gemm.beta)) }
                if gemm.alpha == 1 {
                    bias = c
                } else {
                    // The output scale would also scale a bias argument, so C is added after it.
                    bias = nil
                    postOps.insert(.binary(dnnl_binary_add, input: c), at: 0)
                }
            } else {
                bias = nil
            }
        case is Linear:
            kind = .linear
            alpha = 1
            bias = third
        default:
            kind = .matmul
            alpha = 1
            bias = nil
        }
        self.postOps = postOps
        var constants = constantBuffers(node, epilogue.postOpInputs.union(bias.map { [$0] } ?? []).union(scaled.map { [$0.0] } ?? []))
        if let (c, beta) = scaled, let tensor = node.constants[c] {
            let buffer = AlignedBuffer(floats: tensor)
            let values = buffer.pointer.assumingMemoryBound(to: Float.self)
            for i in 0..<tensor.count { values[i] *= beta }
            constants[c] = buffer
        }
        self.constants = constants
        // A constant B that is one matrix is packed; a batch of them is read where it is.
        packedWeights = node.constants[b].flatMap { $0.shape.dropLast(2).allSatisfy { $0 == 1 } ? PackedWeights($0) : nil }
            ?? node.packedWeights[b]
        if packedWeights != nil { self.node.constants[b] = nil }  // the packed copy is the kernel's own
    }

    var packed: (input: Int, weights: PackedWeights)? { packedWeights.map { (b, $0) } }

    /// The operands' dims and strides, the primitive's dst dims and the node's output shape.
    private struct Geometry {
        var src: [Int], srcStrides: [Int], weights: [Int], weightStrides: [Int], dst: [Int], output: [Int]
    }

    private func geometry(_ sa: [Int], _ sb: [Int]) throws -> Geometry {
        func rowMajor(_ dims: [Int]) -> [Int] { Tensor.strides(of: dims) }
        switch kind {
        case .linear:
            guard let k = sa.last, sb.count == 2, sb[0] == k else { throw EmberError(.unsupported, "linear of \(sa) and \(sb)") }
            let m = sa.dropLast().reduce(1, *)
            return Geometry(src: [m, k], srcStrides: [k, 1], weights: sb, weightStrides: [sb[1], 1], dst: [m, sb[1]], output: sa.dropLast() + [sb[1]])
        case .gemm(_, _, let transA, let transB):
            guard sa.count == 2, sb.count == 2 else { throw EmberError(.unsupported, "gemm of \(sa) and \(sb)") }
            let (m, k) = transA ? (sa[1], sa[0]) : (sa[0], sa[1])
            let (kb, n) = transB ? (sb[1], sb[0]) : (sb[0], sb[1])
            guard k == kb else { throw EmberError(.unsupported, "gemm inner dims differ: \(sa), \(sb)") }
            return Geometry(
                src: [m, k], srcStrides: transA ? [1, m] : [k, 1], weights: [k, n], weightStrides: transB ? [1, k] : [n, 1],
                dst: [m, n], output: [m, n])
        case .matmul:
            let pa = sa.count == 1 ? [1] + sa : sa
            let pb = sb.count == 1 ? sb + [1] : sb
            let (m, k, kb, n) = (pa[pa.count - 2], pa[pa.count - 1], pb[pb.count - 2], pb[pb.count - 1])
            guard k == kb else { throw EmberError(.unsupported, "matmul inner dims differ: \(sa), \(sb)") }
            let batchA = Array(pa.dropLast(2)), batchB = Array(pb.dropLast(2))
            let rank = max(batchA.count, batchB.count)
            let ba = Array(repeating: 1, count: rank - batchA.count) + batchA
            let bb = Array(repeating: 1, count: rank - batchB.count) + batchB
            var batch: [Int] = []
            for (x, y) in zip(ba, bb) {
                guard x == y || x == 1 || y == 1 else { throw EmberError(.unsupported, "matmul batch dims \(batchA) and \(batchB) do not broadcast") }
                batch.append(x == 1 ? y : x)
            }
            var output = batch
            if sa.count >= 2 { output.append(m) }
            if sb.count >= 2 { output.append(n) }
            if batchB.allSatisfy({ $0 == 1 }) && sb.count >= 2 {
                let rows = ba.reduce(1, *) * m
                return Geometry(src: [rows, k], srcStrides: [k, 1], weights: [k, n], weightStrides: [n, 1], dst: [rows, n], output: output)
            }
            let src = ba + [m, k], weights = bb + [k, n]
            return Geometry(src: src, srcStrides: rowMajor(src), weights: weights, weightStrides: rowMajor(weights), dst: batch + [m, n], output: output)
        }
    }

    func plan(_ runShapes: [[Int]?]) throws -> Plan {
        let shapes = concreteShapes(runShapes, node)
        guard let sa = shapes[a], let sb = shapes[b], !sa.isEmpty, !sb.isEmpty else { throw EmberError(.unsupported, "matrix product operands of unknown shape") }
        let g = try geometry(sa, sb)
        var src = try MemoryDesc.strided(g.src, g.srcStrides)
        let plainWeights = try MemoryDesc.strided(g.weights, g.weightStrides)
        let packing = packedWeights != nil && g.weights.count == 2
        var weights = packing ? try MemoryDesc.any(g.weights) : plainWeights
        var dst = try MemoryDesc.make(g.dst)
        // Epilogue operands, padded to the output's rank, as dims of the primitive's dst.
        let fold: ([Int]) throws -> [Int] = { p in
            if g.dst == g.output { return p }
            guard sb.count >= 2, let last = p.last else { throw EmberError(.unsupported, "an epilogue operand on a matmul with a 1-D second operand") }
            let lead = Array(p.dropLast())
            guard g.dst.count == 2 else { return lead + [1, last] }
            if lead.allSatisfy({ $0 == 1 }) { return [1, last] }
            if lead == Array(g.output.dropLast()) { return [g.dst[0], last] }
            throw EmberError(.unsupported, "an epilogue operand of shape \(p) on the flattened product \(g.dst)")
        }
        var biasDesc: dnnl_memory_desc_t?
        if let bias {
            guard let shape = shapes[bias], shape.count <= 2 else { throw EmberError(.unsupported, "bias of unknown shape or rank > 2") }
            let padded = Array(repeating: 1, count: 2 - shape.count) + shape
            guard g.dst.count == 2, zip(padded, g.dst).allSatisfy({ $0 == 1 || $0 == $1 }) else {
                throw EmberError(.unsupported, "bias of shape \(shape) does not broadcast to \(g.dst)")
            }
            biasDesc = try MemoryDesc.make(padded)
        }
        var desc = dnnl_matmul_desc_t()
        let status: dnnl_status_t
        if var bd = biasDesc {
            status = ember_dnnl_matmul_desc_init(&desc, &src, &weights, &bd, &dst)
        } else {
            status = ember_dnnl_matmul_desc_init(&desc, &src, &weights, nil, &dst)
        }
        try OneDNN.check(status, "describing matmul \(g.src) x \(g.weights)")
        let post = try ResolvedPostOps(postOps, node: node, shapes: shapes, constants: constants, output: g.output, dst: g.dst, fold: fold)
        let attributes = try PrimitiveAttributes()
        if alpha != 1 { try attributes.setOutputScale(alpha) }
        try post.apply(to: attributes)
        let primitive = try Primitive(desc, attributes: attributes, what: "creating matmul \(g.src) x \(g.weights)")

        var bindings = [
            Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(a)),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
        ]
        if let packedWeights, packing {
            let chosen = primitive.desc(dnnl_query_weights_md) ?? plainWeights
            let packed = try packedWeights.buffer(chosen, from: plainWeights)
            bindings.append(Binding(arg: DNNL_ARG_WEIGHTS, desc: chosen, source: .buffer(packed)))
        } else {
            bindings.append(Binding(arg: DNNL_ARG_WEIGHTS, desc: plainWeights, source: .input(b)))
        }
        if let bias, let biasDesc {
            bindings.append(Binding(arg: DNNL_ARG_BIAS, desc: biasDesc, source: constants[bias].map { .buffer($0) } ?? .input(bias)))
        }
        return Plan(primitive, bindings + post.bindings, prefill: post.prefill)
    }
}
