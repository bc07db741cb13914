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
        guard let xs = shapes[0] else { throw EmberError(.unsupported, "\(node.op.name) of unknown shape") }
        var src = try MemoryDesc.make(xs, node.inputLayouts[0])
        let attributes = try PrimitiveAttributes()
        let first = operations[0]
        var desc = dnnl_eltwise_desc_t()
        try OneDNN.check(
            ember_dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, first.algorithm, &src, first.alpha, first.beta),
            "describing \(node.op.name) of \(xs)")
        try attributes.setPostOps(operations.dropFirst().map { .eltwise($0) }, binaryDescs: [])
        let primitive = try Primitive(desc, attributes: attributes, what: "creating \(node.op.name) of \(xs)")
        // The eltwise primitive keeps its input's layout; a change of layout is a reorder after.
        let reorder = try layoutChange(src, to: xs, node.outputLayouts[0])
        return Plan(primitive, [
            Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(0)),
            Binding(arg: DNNL_ARG_DST, desc: src, source: reorder == nil ? .output(0) : .intermediate),
        ], reorder: reorder)
    }
}

/// The reorder from a result described by `result` into `shape` in `layout`, or nil when the
/// result already has that layout.
func layoutChange(_ result: dnnl_memory_desc_t, to shape: [Int], _ layout: CPULayout) throws
    -> (primitive: Primitive, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t)?
{
    let output = try MemoryDesc.make(shape, layout)
    if MemoryDesc.equal(result, output) { return nil }
    return (try Reorder.make(from: result, to: output), result, output)
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
        guard let s0 = shapes[0], let s1 = shapes[1] else { throw EmberError(.unsupported, "\(node.op.name) of unknown shapes") }
        let rank = max(s0.count, s1.count)
        let p0 = Array(repeating: 1, count: rank - s0.count) + s0
        let p1 = Array(repeating: 1, count: rank - s1.count) + s1
        var output = zip(p0, p1).map { max($0, $1) }
        var (first, second) = (0, 1)
        if p0 != output {
            guard commutative, p1 == output else { throw EmberError(.unsupported, "\(node.op.name) whose first operand \(s0) is broadcast") }
            (first, second) = (1, 0)
        }
        var (pf, ps) = first == 0 ? (p0, p1) : (p1, p0)
        func source(_ i: Int) -> Source { constants[i].map { .buffer($0) } ?? .input(i) }
        guard zip(ps, output).allSatisfy({ $0 == 1 || $0 == $1 }) else { throw EmberError(.unsupported, "\(s0) and \(s1) do not broadcast") }
        // Plain tensors are described on the fewest dims that say the same: oneDNN's fast binary
        // kernels take up to a few dims, and a 5-D broadcast (Swin's window masks) otherwise
        // gets its reference kernel.
        if [node.inputLayouts[first], node.inputLayouts[second], node.outputLayouts[0]].allSatisfy({ $0 == .plain }) {
            (ps, output) = Self.collapsed(ps, output)
            pf = output
        }
        let firstLayout = node.inputLayouts[first]
        var src0 = try MemoryDesc.make(pf, firstLayout)
        let secondLayout = node.inputLayouts[second]
        if secondLayout != .plain, ps != output { throw EmberError(.unsupported, "a broadcast operand in \(secondLayout)") }
        var src1 = try MemoryDesc.make(ps, secondLayout)
        var secondSource = source(second)
        var staged: [StagedInput] = []
        if let constant = constants[second], let blocked = try blockedOperand(constant, ps, like: firstLayout, plain: src1) {
            (src1, secondSource) = (blocked.desc, .buffer(blocked.buffer))
        } else if secondLayout != firstLayout {
            // oneDNN's fast binary kernels read both operands in one layout (a channel-blocked
            // tensor times a plain one runs its reference kernel): the second is reordered into
            // the first's before each run.
            let to = try MemoryDesc.make(ps, firstLayout)
            staged.append(StagedInput(source: secondSource, reorder: try Reorder.make(from: src1, to: to), from: src1, to: to))
            (src1, secondSource) = (to, .staged(0))
        }
        // Computed in the first operand's layout, then reordered: oneDNN's fast binary kernels
        // keep one layout.
        var dst = try MemoryDesc.make(output, node.inputLayouts[first])
        let reorder = try layoutChange(dst, to: output, node.outputLayouts[0])
        var desc = dnnl_binary_desc_t()
        try OneDNN.check(ember_dnnl_binary_desc_init(&desc, algorithm, &src0, &src1, &dst), "describing \(node.op.name) of \(s0) and \(s1)")
        let primitive = try Primitive(desc, attributes: try PrimitiveAttributes(), what: "creating \(node.op.name) of \(s0) and \(s1)")
        return Plan(primitive, [
            Binding(arg: DNNL_ARG_SRC_0, desc: src0, source: source(first)),
            Binding(arg: DNNL_ARG_SRC_1, desc: src1, source: secondSource),
            Binding(arg: DNNL_ARG_DST, desc: dst, source: reorder == nil ? .output(0) : .intermediate),
        ], reorder: reorder, staged: staged)
    }
}

extension BinaryBuilder {
    /// Row-major dims of a broadcast operand and the output with the output's size-1 dims
    /// dropped and neighbours merged where the operand is whole along both or broadcast along
    /// both: `[1, 64, 1, 49, 49]` against `[1, 64, 3, 49, 49]` is `[64, 1, 2401]` against
    /// `[64, 3, 2401]`. The elements lie where they lay.
    static func collapsed(_ operand: [Int], _ output: [Int]) -> (second: [Int], output: [Int]) {
        var second: [Int] = [], merged: [Int] = [], whole: [Bool] = []
        for (o, d) in zip(output, operand) where d != 1 || o != 1 {
            let full = d == o
            if let last = whole.last, last == full {
                merged[merged.count - 1] *= o
                second[second.count - 1] *= d
            } else {
                merged.append(o)
                second.append(d)
                whole.append(full)
            }
        }
        return merged.isEmpty ? ([1], [1]) : (second, merged)
    }
}

/// A constant broadcast operand (per channel, scalar) of rank 3 to 5 copied into `layout` when
/// that is blocked: oneDNN's fast binary kernels read such operands in the other operand's layout.
func blockedOperand(_ constant: AlignedBuffer, _ dims: [Int], like layout: CPULayout, plain: dnnl_memory_desc_t) throws
    -> (desc: dnnl_memory_desc_t, buffer: AlignedBuffer)?
{
    guard case .channelBlocked = layout, layout.allows(rank: dims.count) else { return nil }
    let desc = try MemoryDesc.make(dims, layout)
    return (desc, try Reorder.copy(constant.pointer, from: plain, to: desc))
}
