import EmberDNNL
import EmberIR
import EmberOps

/// A convolution or transposed convolution (1-D to 3-D, grouped, strided, dilated, padded) with
/// its epilogue as post-ops. Constant weights are reordered into the format the primitive prefers
/// when a plan is made; computed weights are read in their plain layout on every run.
struct ConvBuilder: PlanBuilder {
    var node: KernelNode
    /// The anchor: a conv's window, or the transposed convolution whose geometry sizes the output.
    let window: WindowAttributes
    let transposed: ConvTranspose?
    let group: Int
    let x: Int, w: Int, b: Int?
    let postOps: [PostOp]
    let constants: [AlignedBuffer?]
    /// The constant weight in the formats the plans chose.
    let packedWeights: PackedWeights?

    init(_ node: KernelNode, _ epilogue: Epilogue) throws {
        let conv = epilogue.anchor
        self.node = node
        switch conv {
        case let op as Conv: (window, transposed, group) = (op.window, nil, op.group)
        case let op as ConvTranspose: (window, transposed, group) = (op.window, op, op.group)
        default: throw EmberError(.unsupported, "\(conv.name) is not a convolution")
        }
        guard let x = epilogue.operands[0], let w = epilogue.operands[1] else { throw EmberError(.unsupported, "conv without X or W") }
        (self.x, self.w) = (x, w)
        b = epilogue.operands.count > 2 ? epilogue.operands[2] : nil
        postOps = epilogue.postOps
        constants = constantBuffers(node, epilogue.postOpInputs.union(b.map { [$0] } ?? []))
        if let weight = node.constants[w] {
            packedWeights = PackedWeights(weight)
            self.node.constants[w] = nil  // the packed copy is the kernel's own
        } else {
            packedWeights = node.packedWeights[w]
        }
    }

    var packed: (input: Int, weights: PackedWeights)? { packedWeights.map { (w, $0) } }

    /// oneDNN's dims for W (with a leading group dim when grouped) and W's memory under them.
    static func weightsDesc(_ ws: [Int], group: Int, transposed: Bool) throws -> (dims: [Int], plain: dnnl_memory_desc_t) {
        let kernel = Array(ws.dropFirst(2))
        // conv's W is [M, C/group, k...]; conv_transpose's [C, M/group, k...].
        let (m, c) = transposed ? (ws[1] * group, ws[0]) : (ws[0], ws[1] * group)
        let dims = (group > 1 ? [group, m / group, c / group] : [m, c]) + kernel
        guard transposed else { return (dims, try MemoryDesc.make(dims)) }
        // oneDNN's [group, M/group, C/group, k...] over W's [group, C/group, M/group, k...].
        let taps = kernel.reduce(1, *)
        let (mg, cg) = (m / group, c / group)
        let strides = (group > 1 ? [cg * mg * taps] : []) + [taps, mg * taps] + Tensor.strides(of: kernel)
        return (dims, try MemoryDesc.strided(dims, strides))
    }

    func plan(_ runShapes: [[Int]?]) throws -> Plan { try plan(runShapes, winograd: true) }

    func packingPlan(_ runShapes: [[Int]?]) throws -> Plan { try plan(runShapes, winograd: false) }

    private func plan(_ runShapes: [[Int]?], winograd: Bool) throws -> Plan {
        let shapes = concreteShapes(runShapes, node)
        guard let xs = shapes[x], let ws = shapes[w], xs.count >= 3, ws.count == xs.count else {
            throw EmberError(.unsupported, "conv needs X and W of the same rank >= 3")
        }
        let kernel = Array(ws.dropFirst(2))
        let c = xs[1]
        // conv's W is [M, C/group, k...]; conv_transpose's [C, M/group, k...].
        let m = transposed == nil ? ws[0] : ws[1] * group
        guard c % group == 0, m % group == 0, transposed == nil ? ws[1] * group == c : ws[0] == c else {
            throw EmberError(.unsupported, "X with \(c) channels and W \(ws) do not split into \(group) groups")
        }
        let input = Array(xs.dropFirst(2))
        let geometry = try transposed.map { try OneDNNWindow($0, input: input, kernel: kernel) }
            ?? OneDNNWindow(window, input: input, kernel: kernel, op: Conv.name)
        let dst = [xs[0], m] + geometry.output
        let (weightDims, plainWeights) = try Self.weightsDesc(ws, group: group, transposed: transposed != nil)
        var src = try MemoryDesc.make(xs, node.inputLayouts[x])
        var out = try MemoryDesc.make(dst, node.outputLayouts[0])
        var weights = packedWeights != nil ? try MemoryDesc.any(weightDims) : plainWeights
        var bias = try MemoryDesc.make([m])
        let strides = geometry.strides.map(Int64.init)
        let dilations = geometry.dilations.map(Int64.init)
        let (begin, end) = (geometry.begin.map(Int64.init), geometry.end.map(Int64.init))

        let post = try ResolvedPostOps(postOps, node: node, shapes: shapes, constants: constants, output: dst, dst: dst) { $0 }
        let attributes = try PrimitiveAttributes()
        try post.apply(to: attributes)
        func make(_ algorithm: dnnl_alg_kind_t) throws -> Primitive {
            // A transposed convolution's descriptor has the same type in oneDNN 2.
            var desc = dnnl_convolution_desc_t()
            let status = withUnsafePointer(to: &bias) { biasPointer in
                let biasDesc = b == nil ? nil : biasPointer
                if transposed == nil {
                    return ember_dnnl_dilated_convolution_forward_desc_init(
                        &desc, dnnl_forward_inference, algorithm, &src, &weights, biasDesc, &out, strides, dilations, begin, end)
                }
                return ember_dnnl_dilated_deconvolution_forward_desc_init(
                    &desc, dnnl_forward_inference, algorithm, &src, &weights, biasDesc, &out, strides, dilations, begin, end)
            }
            try OneDNN.check(status, "describing conv \(xs) * \(ws)")
            return try Primitive(desc, attributes: attributes, what: "creating conv \(xs) * \(ws)")
        }
        // Winograd where oneDNN has it, for 3x3 stride-1 convolutions of constant weights with
        // outputs of at least 14x14 (smaller ones waste much of their tiles). Its transformed
        // weights depend on the batch and cannot be reordered back, so a weight gets them for at
        // most two batch layouts; other batches run the direct algorithm.
        var primitive: Primitive?
        if winograd, let packedWeights, transposed == nil, group == 1, kernel == [3, 3],
           strides.allSatisfy({ $0 == 1 }), dilations.allSatisfy({ $0 == 0 }), geometry.output.allSatisfy({ $0 >= 14 }),
           let candidate = try? make(dnnl_convolution_winograd),
           let format = candidate.desc(dnnl_query_weights_md),
           packedWeights.holds(format) || packedWeights.winogradCount < 2 {
            primitive = candidate
        }
        let direct = transposed == nil ? dnnl_convolution_direct : dnnl_deconvolution_direct
        var chosen = try primitive ?? make(direct)
        // oneDNN's optimized convolutions want source and destination in matching formats (both
        // channel-blocked, both plain...); for other pairs, such as a blocked source with a plain
        // destination for a concat, it falls back to a reference loop thousands of times slower.
        // Then the formats are left to oneDNN, and the arguments reordered in and out of scratch.
        let (nodeSrc, nodeOut) = (src, out)
        // The planned channel-blocked layout for both is tried first (one reorder, of the plain side).
        if chosen.isReference {
            weights = try MemoryDesc.any(weightDims)
            var formats: [(dnnl_memory_desc_t, dnnl_memory_desc_t)] = []
            if let blocked = [node.inputLayouts[x], node.outputLayouts[0]].first(where: { $0 != .plain }) {
                formats.append((try MemoryDesc.make(xs, blocked), try MemoryDesc.make(dst, blocked)))
            }
            formats.append((try MemoryDesc.any(xs), try MemoryDesc.any(dst)))
            for (source, destination) in formats {
                (src, out) = (source, destination)
                if let candidate = try? make(direct), !candidate.isReference {
                    chosen = candidate
                    break
                }
            }
        }
        let chosenSrc = chosen.desc(dnnl_query_src_md) ?? nodeSrc, chosenOut = chosen.desc(dnnl_query_dst_md) ?? nodeOut
        var staged: [StagedInput] = []
        func stage(_ source: Source, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t) throws -> Source {
            staged.append(StagedInput(source: source, reorder: try Reorder.make(from: from, to: to), from: from, to: to))
            return .staged(staged.count - 1)
        }
        let srcSource = MemoryDesc.equal(chosenSrc, nodeSrc) ? Source.input(x) : try stage(.input(x), from: nodeSrc, to: chosenSrc)
        let outReordered = !MemoryDesc.equal(chosenOut, nodeOut)
        var bindings = [
            Binding(arg: DNNL_ARG_SRC, desc: chosenSrc, source: srcSource),
            Binding(arg: DNNL_ARG_DST, desc: chosenOut, source: outReordered ? .intermediate : .output(0)),
        ]
        if let packedWeights {
            let format = chosen.desc(dnnl_query_weights_md) ?? plainWeights
            let packed = try packedWeights.buffer(format, from: plainWeights)
            bindings.append(Binding(arg: DNNL_ARG_WEIGHTS, desc: format, source: .buffer(packed)))
        } else {
            let format = chosen.desc(dnnl_query_weights_md) ?? plainWeights
            let source = MemoryDesc.equal(format, plainWeights) ? Source.input(w) : try stage(.input(w), from: plainWeights, to: format)
            bindings.append(Binding(arg: DNNL_ARG_WEIGHTS, desc: format, source: source))
        }
        if let b {
            bindings.append(Binding(arg: DNNL_ARG_BIAS, desc: bias, source: constants[b].map { .buffer($0) } ?? .input(b)))
        }
        guard outReordered else { return Plan(chosen, bindings + post.bindings, prefill: post.prefill, staged: staged) }
        // The result goes to scratch first; a sum post-op's residual is reordered into it.
        if let residual = post.prefill {
            let residualDesc = try MemoryDesc.make(dst, node.inputLayouts[residual])
            staged.append(StagedInput(
                source: .input(residual), reorder: try Reorder.make(from: residualDesc, to: chosenOut), from: residualDesc, to: chosenOut,
                intoIntermediate: true))
        }
        return Plan(
            chosen, bindings + post.bindings, reorder: (try Reorder.make(from: chosenOut, to: nodeOut), chosenOut, nodeOut), staged: staged)
    }
}
