import EmberDNNL
import EmberIR
import EmberOps

/// A convolution (1-D to 3-D, grouped, strided, dilated, padded) with its epilogue as post-ops.
/// Constant weights are reordered once per plan into the format the primitive prefers; computed
/// weights are read in their plain layout on every run.
struct ConvBuilder: PlanBuilder {
    let node: KernelNode
    let window: Window
    let group: Int
    let x: Int, w: Int, b: Int?
    let postOps: [PostOp]
    let constants: [AlignedBuffer?]
    /// The constant weight in the formats the plans chose.
    let packedWeights: PackedWeights?

    init(_ node: KernelNode, _ epilogue: Epilogue) throws {
        let conv = epilogue.anchor
        self.node = node
        window = try Window(conv.attributes)
        group = try conv.attributes.int("group", default: 1)
        guard let x = epilogue.operands[0], let w = epilogue.operands[1] else { throw Unsupported("conv without X or W") }
        (self.x, self.w) = (x, w)
        b = epilogue.operands.count > 2 ? epilogue.operands[2] : nil
        postOps = epilogue.postOps
        constants = constantBuffers(node, epilogue.postOpInputs.union(b.map { [$0] } ?? []))
        packedWeights = node.constants[w].map(PackedWeights.init)
    }

    func plan(_ runShapes: [[Int]?]) throws -> Plan {
        let shapes = concreteShapes(runShapes, node)
        guard let xs = shapes[x], let ws = shapes[w], xs.count >= 3, ws.count == xs.count else {
            throw Unsupported("conv needs X and W of the same rank >= 3")
        }
        let (n, c, m) = (xs[0], xs[1], ws[0])
        let kernel = Array(ws.dropFirst(2))
        guard c % group == 0, m % group == 0, ws[1] * group == c else {
            throw Unsupported("X with \(c) channels and W \(ws) do not split into \(group) groups")
        }
        let spatial = xs.count - 2
        let geometry = try window.resolve(input: Array(xs.dropFirst(2)), kernel: kernel)
        let dst = [n, m] + geometry.output
        let weightDims = group > 1 ? [group, m / group, c / group] + kernel : ws

        var src = try MemoryDesc.make(xs, node.inputLayouts[x])
        var out = try MemoryDesc.make(dst, node.outputLayouts[0])
        let plainWeights = try MemoryDesc.make(weightDims)
        let weightsConstant = node.constants[w]
        var weights = weightsConstant != nil ? try MemoryDesc.any(weightDims) : plainWeights
        var bias = try MemoryDesc.make([m])
        let strides = window.strides(spatial).map(Int64.init)
        let dilations = window.oneDNNDilations(spatial).map(Int64.init)
        let (begin, end) = (geometry.begin.map(Int64.init), geometry.end.map(Int64.init))

        var desc = dnnl_convolution_desc_t()
        let status = withUnsafePointer(to: &bias) { biasPointer in
            ember_dnnl_dilated_convolution_forward_desc_init(
                &desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &weights, b == nil ? nil : biasPointer, &out,
                strides, dilations, begin, end)
        }
        try OneDNN.check(status, "describing conv \(xs) * \(ws)")
        let post = try ResolvedPostOps(postOps, node: node, shapes: shapes, constants: constants, output: dst, dst: dst) { $0 }
        let attributes = try PrimitiveAttributes()
        try post.apply(to: attributes)
        let primitive = try Primitive(desc, attributes: attributes, what: "creating conv \(xs) * \(ws)")

        var bindings = [
            Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(x)),
            Binding(arg: DNNL_ARG_DST, desc: out, source: .output(0)),
        ]
        if let packedWeights {
            let chosen = primitive.desc(dnnl_query_weights_md) ?? plainWeights
            let packed = try packedWeights.buffer(chosen, from: plainWeights)
            bindings.append(Binding(arg: DNNL_ARG_WEIGHTS, desc: chosen, source: .buffer(packed)))
        } else {
            bindings.append(Binding(arg: DNNL_ARG_WEIGHTS, desc: plainWeights, source: .input(w)))
        }
        if let b {
            bindings.append(Binding(arg: DNNL_ARG_BIAS, desc: bias, source: constants[b].map { .buffer($0) } ?? .input(b)))
        }
        return Plan(primitive, bindings + post.bindings, prefill: post.prefill)
    }
}
