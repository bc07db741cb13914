import EmberDNNL
import EmberIR
import EmberOps

/// Inference-form `batch_norm` (X, scale, B, mean, var). With constant parameters it is
/// `x * s + t` per channel, `s = scale / sqrt(var + epsilon)`, `t = B - mean * s`: one binary
/// primitive that may also change the layout. Otherwise oneDNN's batch normalization with global
/// statistics, in one layout.
struct BatchNormBuilder: PlanBuilder {
    let node: KernelNode
    let epsilon: Float
    let constants: [AlignedBuffer?]
    /// `s` and `t` when every parameter is a constant.
    let folded: (scale: AlignedBuffer, shift: AlignedBuffer)?

    init(_ node: KernelNode, epsilon: Double) {
        self.node = node
        self.epsilon = Float(epsilon)
        constants = constantBuffers(node, [1, 2, 3, 4])
        let parameters = (1...4).compactMap { node.constants[$0]?.floats() }
        if parameters.count == 4, Set(parameters.map(\.count)).count == 1 {
            let (scale, bias, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3])
            let s = AlignedBuffer(byteCount: scale.count * 4), t = AlignedBuffer(byteCount: scale.count * 4)
            let sp = s.pointer.assumingMemoryBound(to: Float.self), tp = t.pointer.assumingMemoryBound(to: Float.self)
            for c in scale.indices {
                sp[c] = scale[c] / (variance[c] + Float(epsilon)).squareRoot()
                tp[c] = bias[c] - mean[c] * sp[c]
            }
            folded = (s, t)
        } else {
            folded = nil
        }
    }

    /// Whether the kernel may read and write different layouts.
    var changesLayout: Bool { folded != nil }

    func plan(_ runShapes: [[Int]?]) throws -> Plan {
        let shapes = concreteShapes(runShapes, node)
        guard let xs = shapes[0], xs.count >= 2 else { throw EmberError(.unsupported, "batch_norm needs X of rank 2 or more") }
        for i in 1...4 where shapes[i] != [xs[1]] { throw EmberError(.unsupported, "batch_norm parameter \(i) of shape \(shapes[i] ?? []), expected [\(xs[1])]") }
        var data = try MemoryDesc.make(xs, node.inputLayouts[0])
        var dst = try MemoryDesc.make(xs, node.outputLayouts[0])
        if let folded {
            let reorder = try layoutChange(data, to: xs, node.outputLayouts[0])
            dst = data
            let perChannel = [1, xs[1]] + Array(repeating: 1, count: xs.count - 2)
            var channel = try MemoryDesc.make(perChannel)
            var (scale, shift) = folded
            if let blockedScale = try blockedOperand(scale, perChannel, like: node.inputLayouts[0], plain: channel),
                let blockedShift = try blockedOperand(shift, perChannel, like: node.inputLayouts[0], plain: channel)
            {
                (channel, scale, shift) = (blockedScale.desc, blockedScale.buffer, blockedShift.buffer)
            }
            let attributes = try PrimitiveAttributes()
            try attributes.setPostOps([.binary(dnnl_binary_add, input: 2)], binaryDescs: [channel])
            var desc = dnnl_binary_desc_t()
            try OneDNN.check(ember_dnnl_binary_desc_init(&desc, dnnl_binary_mul, &data, &channel, &dst), "describing batch_norm of \(xs)")
            let primitive = try Primitive(desc, attributes: attributes, what: "creating batch_norm of \(xs)")
            return Plan(primitive, [
                Binding(arg: DNNL_ARG_SRC_0, desc: data, source: .input(0)),
                Binding(arg: DNNL_ARG_SRC_1, desc: channel, source: .buffer(scale)),
                Binding(arg: DNNL_ARG_DST, desc: dst, source: reorder == nil ? .output(0) : .intermediate),
                Binding(arg: DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1, desc: channel, source: .buffer(shift)),
            ], reorder: reorder)
        }
        guard MemoryDesc.equal(data, dst) else { throw EmberError(.unsupported, "batch_norm with computed parameters between layouts") }
        let flags = dnnl_use_global_stats.rawValue | dnnl_use_scale.rawValue | dnnl_use_shift.rawValue
        var desc = dnnl_batch_normalization_desc_t()
        try OneDNN.check(
            ember_dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &data, epsilon, UInt32(flags)),
            "describing batch_norm of \(xs)")
        let primitive = try Primitive(desc, attributes: try PrimitiveAttributes(), what: "creating batch_norm of \(xs)")
        let channel = try MemoryDesc.make([xs[1]])
        func source(_ i: Int) -> Source { constants[i].map { .buffer($0) } ?? .input(i) }
        return Plan(primitive, [
            Binding(arg: DNNL_ARG_SRC, desc: data, source: .input(0)),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
            Binding(arg: DNNL_ARG_SCALE, desc: channel, source: source(1)),
            Binding(arg: DNNL_ARG_SHIFT, desc: channel, source: source(2)),
            Binding(arg: DNNL_ARG_MEAN, desc: channel, source: source(3)),
            Binding(arg: DNNL_ARG_VARIANCE, desc: channel, source: source(4)),
        ])
    }
}
