import EmberDNNL
import EmberIR
import EmberOps

/// A unary elementwise op (relu, clip, sigmoid...) as oneDNN's eltwise primitive; ops that take
/// more than one eltwise operation run the rest as post-ops.
struct EltwiseBuilder: PlanBuilder {
    let node: KernelNode
    let operations: [Eltwise]

    init(_ node: KernelNode, _ operations: [Eltwise]) {
        self.node = node
        self.operations = operations
    }

    func plan(_ shapes: [[Int]?]) throws -> Plan {
        guard let xs = shapes[0] else { throw Unsupported("\(node.op.name) of unknown shape") }
        var src = try MemoryDesc.make(xs, node.inputLayouts[0])
        var dst = try MemoryDesc.make(xs, node.outputLayouts[0])
        let attributes = try PrimitiveAttributes()
        guard MemoryDesc.equal(src, dst) else {
            // The eltwise primitive keeps its layout; to change it on the way, run max(x, x) with
            // the operations as post-ops.
            try attributes.setPostOps(operations.map { .eltwise($0) }, binaryDescs: [])
            var desc = dnnl_binary_desc_t()
            try OneDNN.check(ember_dnnl_binary_desc_init(&desc, dnnl_binary_max, &src, &src, &dst), "describing \(node.op.name) of \(xs)")
            let primitive = try Primitive(desc, attributes: attributes, what: "creating \(node.op.name) of \(xs)")
            return Plan(primitive, [
                Binding(arg: DNNL_ARG_SRC_0, desc: src, source: .input(0)),
                Binding(arg: DNNL_ARG_SRC_1, desc: src, source: .input(0)),
                Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
            ])
        }
        let first = operations[0]
        var desc = dnnl_eltwise_desc_t()
        try OneDNN.check(
            ember_dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, first.algorithm, &src, first.alpha, first.beta),
            "describing \(node.op.name) of \(xs)")
        try attributes.setPostOps(operations.dropFirst().map { .eltwise($0) }, binaryDescs: [])
        let primitive = try Primitive(desc, attributes: attributes, what: "creating \(node.op.name) of \(xs)")
        return Plan(primitive, [
            Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(0)),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
        ])
    }
}

/// `add`, `sub`, `mul`, `div` of a tensor and a second operand of the same shape or broadcast to
/// it (per channel, scalar) as oneDNN's binary primitive.
struct BinaryBuilder: PlanBuilder {
    let node: KernelNode
    let algorithm: dnnl_alg_kind_t
    let commutative: Bool
    let constants: [AlignedBuffer?]

    init(_ node: KernelNode) {
        self.node = node
        switch node.op {
        case is Add: (algorithm, commutative) = (dnnl_binary_add, true)
        case is Mul: (algorithm, commutative) = (dnnl_binary_mul, true)
        case is Sub: (algorithm, commutative) = (dnnl_binary_sub, false)
        default: (algorithm, commutative) = (dnnl_binary_div, false)
        }
        constants = constantBuffers(node, [0, 1])
    }

    func plan(_ runShapes: [[Int]?]) throws -> Plan {
        let shapes = concreteShapes(runShapes, node)
        guard let s0 = shapes[0], let s1 = shapes[1] else { throw Unsupported("\(node.op.name) of unknown shapes") }
        let rank = max(s0.count, s1.count)
        let p0 = Array(repeating: 1, count: rank - s0.count) + s0
        let p1 = Array(repeating: 1, count: rank - s1.count) + s1
        let output = zip(p0, p1).map { max($0, $1) }
        var (first, second) = (0, 1)
        if p0 != output {
            guard commutative, p1 == output else { throw Unsupported("\(node.op.name) whose first operand \(s0) is broadcast") }
            (first, second) = (1, 0)
        }
        let (pf, ps) = first == 0 ? (p0, p1) : (p1, p0)
        guard zip(ps, output).allSatisfy({ $0 == 1 || $0 == $1 }) else { throw Unsupported("\(s0) and \(s1) do not broadcast") }
        var src0 = try MemoryDesc.make(pf, node.inputLayouts[first])
        let secondLayout = node.inputLayouts[second]
        if secondLayout != .plain, ps != output { throw Unsupported("a broadcast operand in \(secondLayout)") }
        var src1 = try MemoryDesc.make(ps, secondLayout)
        var dst = try MemoryDesc.make(output, node.outputLayouts[0])
        var desc = dnnl_binary_desc_t()
        try OneDNN.check(ember_dnnl_binary_desc_init(&desc, algorithm, &src0, &src1, &dst), "describing \(node.op.name) of \(s0) and \(s1)")
        let primitive = try Primitive(desc, attributes: try PrimitiveAttributes(), what: "creating \(node.op.name) of \(s0) and \(s1)")
        func source(_ i: Int) -> Source { constants[i].map { .buffer($0) } ?? .input(i) }
        return Plan(primitive, [
            Binding(arg: DNNL_ARG_SRC_0, desc: src0, source: source(first)),
            Binding(arg: DNNL_ARG_SRC_1, desc: src1, source: source(second)),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
        ])
    }
}

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
        guard let xs = shapes[0], xs.count >= 2 else { throw Unsupported("batch_norm needs X of rank 2 or more") }
        for i in 1...4 where shapes[i] != [xs[1]] { throw Unsupported("batch_norm parameter \(i) of shape \(shapes[i] ?? []), expected [\(xs[1])]") }
        var data = try MemoryDesc.make(xs, node.inputLayouts[0])
        var dst = try MemoryDesc.make(xs, node.outputLayouts[0])
        if let folded {
            let perChannel = [1, xs[1]] + Array(repeating: 1, count: xs.count - 2)
            var channel = try MemoryDesc.make(perChannel)
            let attributes = try PrimitiveAttributes()
            try attributes.setPostOps([.binary(dnnl_binary_add, input: 2)], binaryDescs: [channel])
            var desc = dnnl_binary_desc_t()
            try OneDNN.check(ember_dnnl_binary_desc_init(&desc, dnnl_binary_mul, &data, &channel, &dst), "describing batch_norm of \(xs)")
            let primitive = try Primitive(desc, attributes: attributes, what: "creating batch_norm of \(xs)")
            return Plan(primitive, [
                Binding(arg: DNNL_ARG_SRC_0, desc: data, source: .input(0)),
                Binding(arg: DNNL_ARG_SRC_1, desc: channel, source: .buffer(folded.scale)),
                Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
                Binding(arg: DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1, desc: channel, source: .buffer(folded.shift)),
            ])
        }
        guard MemoryDesc.equal(data, dst) else { throw Unsupported("batch_norm with computed parameters between layouts") }
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

/// A layout conversion as a oneDNN reorder.
struct ReorderBuilder: PlanBuilder {
    let from: CPULayout, to: CPULayout

    func plan(_ shapes: [[Int]?]) throws -> Plan {
        guard let shape = shapes[0] else { throw Unsupported("a conversion of unknown shape") }
        let (src, dst) = (try MemoryDesc.make(shape, from), try MemoryDesc.make(shape, to))
        return Plan(try Reorder.make(from: src, to: dst), [
            Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(0)),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: .output(0)),
        ])
    }
}
