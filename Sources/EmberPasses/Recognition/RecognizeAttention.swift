import EmberIR
import EmberOps

/// Scaled dot product attention from its decomposition:
///
///     softmax(matmul(q * s1, k^T * s2) * s + mask) @ v   ->   attention(q, k, v, mask) {scale = s1 * s2 * s}
///
/// on 4-D `[batch, heads, seq, head_size]` operands. The scales are constant multiplications or
/// divisions (any of them absent); the mask is a sum of additive biases and `where(keep, scores,
/// fill)` selections (absent when there is none); a `where(is_nan(p), 0, p)` after the softmax is
/// absorbed (attention gives zeros for fully masked rows). `k^T` may be a transpose of a 4-D
/// tensor, or the reshape to 3-D, transpose and reshape back that torch.export emits. The head
/// split and merge around the pattern stay as they are.
public struct RecognizeAttention: PatternPass {
    public static let name = "recognize-attention"
    public init() {}

    private enum MaskTerm {
        case additive(ValueID)
        /// `where(keep, scores, fill)`.
        case keep(ValueID, Double)
    }

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let root = view.graph.nodes[index]
        guard root.op is MatMul, root.outputs.count == 1, let p = root.inputs[0], let v = root.inputs[1],
              view.type(v).rank == 4, view.type(root.outputs[0]).rank == 4 else { return false }
        var pattern = [index]
        func skip(_ value: ValueID) -> ValueID {
            pattern += view.noOpChain(value)
            return view.skipNoOps(value)
        }

        // where(is_nan(s), 0, s) after the softmax
        var probabilities = skip(p)
        if let select = view.match(probabilities, Where.self), let isNaN = view.match(select.node.inputs[0], IsNaN.self),
           view.isScalar(select.node.inputs[1], 0), let s = select.node.inputs[2], isNaN.node.inputs[0] == s {
            pattern += [select.index, isNaN.index]
            probabilities = skip(s)
        }
        guard let softmax = view.match(probabilities, Softmax.self), softmax.op.axis == -1 || softmax.op.axis == 3,
              let z = softmax.node.inputs[0], view.type(z).rank == 4 else { return false }
        pattern.append(softmax.index)

        // Masks, then the scale, then the product.
        var masks: [MaskTerm] = []
        var current = skip(z)
        var core: (scale: Double, q: ValueID, kT: ValueID, factors: [(ValueID, Bool)])? = nil
        for _ in 0..<4 {
            if let found = scaledProduct(current, view: view, pattern: &pattern) {
                core = found
                break
            }
            if let add = view.match(current, Add.self), let a = add.node.inputs[0], let b = add.node.inputs[1] {
                // The scores side is the one that reaches the product.
                let scoresFirst = reachesProduct(a, view: view) || !reachesProduct(b, view: view)
                let (scores, mask) = scoresFirst ? (a, b) : (b, a)
                pattern.append(add.index)
                masks.append(.additive(mask))
                current = skip(scores)
                continue
            }
            if let select = view.match(current, Where.self), let keep = select.node.inputs[0],
               let scores = select.node.inputs[1], let fill = view.scalar(select.node.inputs[2]),
               fill <= -1e30 {
                // A fill this far below any score absorbs the score it is added to, so adding
                // where(keep, 0, fill) selects as where(keep, scores, fill) does.
                pattern.append(select.index)
                masks.append(.keep(keep, fill))
                current = skip(scores)
                continue
            }
            break
        }
        guard let core, view.type(core.q).rank == 4,
              core.factors.isEmpty || isDefaultScale(core.scale, factors: core.factors, q: core.q, view: view),
              let (key, keyNodes) = untransposedKey(core.kT, view: view)
        else { return false }
        guard rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { return false }
        // The nodes that computed k^T go too, when nothing else uses them.
        var removable = pattern
        for node in keyNodes where view.isClosed(removable + [node], root: index) { removable.append(node) }
        guard rewriter.isFree(removable) else { return false }

        let output = root.outputs[0]
        let dtype = view.type(output).dtype
        guard dtype.isFloatingPoint else { return false }
        var newNodes: [Node] = []
        var keyValue = key.value
        if let perm = key.perm {
            let shape = view.type(key.value).shape.map { xs in perm.map { xs[$0] } }
            keyValue = graph.addResult(core.kT, ".key", TensorType(dtype, shape))
            newNodes.append(Node(name: "", op: Transpose(perm: perm), inputs: [key.value], outputs: [keyValue]))
        }
        var inputs: [ValueID?] = [core.q, keyValue, v]
        if let mask = buildMask(masks, scores: z, dtype: dtype, view: view, graph: &graph, nodes: &newNodes) {
            inputs.append(mask)
        } else if !masks.isEmpty {
            return false
        }
        var op = try Attention(attributes: Attributes(op: Attention.name))
        // Scales computed from the head size at run time are the op's default.
        op.scale = core.factors.isEmpty ? core.scale : nil
        newNodes.append(Node(name: root.name, op: op, inputs: inputs, outputs: [output]))
        rewriter.replace(index, with: newNodes, removing: removable)
        return true
    }

    /// `matmul(q * s1, kT * s2) * s` (scales optional): the combined scale, q and kT.
    private func scaledProduct(
        _ value: ValueID, view: MatchView, pattern: inout [Int]
    ) -> (scale: Double, q: ValueID, kT: ValueID, factors: [(ValueID, Bool)])? {
        let outer = view.scaled(value)
        guard let mm = view.match(outer.base, MatMul.self), let a = mm.node.inputs[0], let b = mm.node.inputs[1] else {
            return nil
        }
        let (q, k) = (view.scaled(a), view.scaled(b))
        pattern += outer.nodes + [mm.index] + q.nodes + k.nodes
        return (outer.scale * q.scale * k.scale, q.base, k.base, outer.factors + q.factors + k.factors)
    }

    /// Whether constant `scale` times the run-time `factors` is `1 / sqrt(head_size)` whatever the
    /// shape of `q` (tried on several shapes): the attention op's default scale.
    private func isDefaultScale(_ scale: Double, factors: [(ValueID, Bool)], q: ValueID, view: MatchView) -> Bool {
        for dims in [[2, 3, 5, 16], [3, 2, 7, 64], [1, 4, 9, 100]] {
            var total = scale
            for (factor, divides) in factors {
                guard let t = view.evaluate(factor, shapes: [q: dims]), let f = t.scalarDouble, f != 0 else { return false }
                total = divides ? total / f : total * f
            }
            guard MatchView.close(total, 1 / Double(dims[3]).squareRoot(), tolerance: 1e-5) else { return false }
        }
        return true
    }

    private func reachesProduct(_ value: ValueID, view: MatchView) -> Bool {
        var current = view.skipNoOps(value)
        for _ in 0..<6 {
            if view.match(view.scaled(current).base, MatMul.self) != nil { return true }
            guard let node = view.producer(current), node.op is Add || node.op is Where,
                  let next = node.inputs[node.op is Where ? 1 : 0] else { return false }
            current = view.skipNoOps(next)
        }
        return false
    }

    /// K as `[batch, heads, seq, head_size]` from `kT`, its last two dims swapped: the value (and
    /// the transpose node to add, if one is needed) and the nodes that computed kT.
    private func untransposedKey(
        _ kT: ValueID, view: MatchView
    ) -> (key: (value: ValueID, perm: [Int]?), nodes: [Int])? {
        let chain = view.noOpChain(kT)
        let t = view.skipNoOps(kT)
        // transpose(x, perm) with perm ending in a swap of the last two axes after composing.
        if let transpose = view.match(t, Transpose.self), let perm = transpose.op.perm, perm.count == 4,
           let x = transpose.node.inputs[0] {
            let keyPerm = [perm[0], perm[1], perm[3], perm[2]]
            return ((x, keyPerm == [0, 1, 2, 3] ? nil : keyPerm), chain + [transpose.index])
        }
        // reshape(transpose(reshape(k, [-1, S, D]), [0, 2, 1]), [B, H, D, S])
        if let key = reshapedTransposedKey(t, view: view) {
            return ((key.value, nil), chain + key.nodes)
        }
        // Any other 4-D k^T: a transpose of it swapping the last two axes gives K back.
        guard view.type(kT).rank == 4 else { return nil }
        return ((kT, [0, 1, 3, 2]), [])
    }

    private func reshapedTransposedKey(_ t: ValueID, view: MatchView) -> (value: ValueID, nodes: [Int])? {
        guard let outer = view.match(t, Reshape.self), let swapped = outer.node.inputs[0],
              let transpose = view.match(swapped, Transpose.self), transpose.op.perm == [0, 2, 1],
              let inner = view.match(transpose.node.inputs[0], Reshape.self), let k = inner.node.inputs[0],
              view.type(k).rank == 4,
              let flat = view.dimExpressions(inner.node.inputs[1]), let split = view.dimExpressions(outer.node.inputs[1])
        else { return nil }
        let d = (0..<4).map { view.dimExpression(k, $0) }
        var leading: [DimExpression] = [.constant(-1)]
        if case .constant(let b) = d[0], case .constant(let h) = d[1] { leading.append(.constant(b * h)) }
        guard flat.count == 3, leading.contains(flat[0]), Array(flat[1...]) == [d[2], d[3]],
              split == [d[0], d[1], d[3], d[2]] else { return nil }
        return (k, [outer.index, transpose.index, inner.index])
    }

    /// One mask for the attention op from the terms found, with the nodes that combine them.
    private func buildMask(
        _ terms: [MaskTerm], scores: ValueID, dtype: DType, view: MatchView, graph: inout Graph, nodes: inout [Node]
    ) -> ValueID? {
        guard !terms.isEmpty else { return nil }
        for term in terms {
            let value: ValueID
            switch term {
            case .additive(let m): value = m
            case .keep(let keep, _): value = keep
            }
            guard let shape = view.type(value).shape, shape.count <= 4 else { return nil }
            // A bias of one key would be padded with masked keys, not broadcast.
            if shape.last == .known(1), view.type(scores).shape?.last != .known(1) { return nil }
            if case .additive = term, !view.type(value).dtype.isFloatingPoint { return nil }
            if case .keep = term, view.type(value).dtype != .bool { return nil }
        }
        if terms.count == 1, case .keep(let keep, let fill) = terms[0], fill == -.infinity { return keep }
        var additive: [ValueID] = []
        for term in terms {
            switch term {
            case .additive(let m):
                additive.append(m)
            case .keep(let keep, let fill):
                let zero = graph.addConstant(Tensor(scalar: 0, dtype), after: keep, ".zero")
                let masked = graph.addConstant(Tensor(scalar: fill, dtype), after: keep, ".fill")
                let type = TensorType(dtype, view.type(keep).shape)
                let bias = graph.addResult(keep, ".bias", type)
                nodes.append(Node(name: "", op: Where(), inputs: [keep, zero, masked], outputs: [bias]))
                additive.append(bias)
            }
        }
        var mask = additive[0]
        for next in additive.dropFirst() {
            let type = TensorType(dtype, broadcastShape(view.type(mask).shape, view.type(next).shape))
            let sum = graph.addResult(mask, ".mask", type)
            nodes.append(Node(name: "", op: Add(), inputs: [mask, next], outputs: [sum]))
            mask = sum
        }
        return mask
    }

    private func broadcastShape(_ a: [Dim]?, _ b: [Dim]?) -> [Dim]? {
        guard let a, let b else { return nil }
        let rank = max(a.count, b.count)
        let pa = Array(repeating: Dim.known(1), count: rank - a.count) + a
        let pb = Array(repeating: Dim.known(1), count: rank - b.count) + b
        return zip(pa, pb).map { x, y in
            if x == .known(1) { return y }
            if y == .known(1) || x == y { return x }
            return .unknown
        }
    }
}

extension MatchView {
    /// `value` as `base * scale * factors...` through multiplications and divisions by constant
    /// scalars, or by one-element values computed at run time (`factors`, with whether each
    /// divides), used only on this path.
    func scaled(_ value: ValueID) -> (base: ValueID, scale: Double, nodes: [Int], factors: [(ValueID, Bool)]) {
        var current = value
        var scale = 1.0
        var nodes: [Int] = []
        var factors: [(ValueID, Bool)] = []
        func isOneElement(_ v: ValueID) -> Bool {
            type(v).dtype.isFloatingPoint && type(v).knownShape.map { $0.allSatisfy { $0 == 1 } } == true
        }
        for _ in 0..<4 {
            guard let index = producerIndex(current), current == value || uses[current.index] == 1 else { break }
            let node = graph.nodes[index]
            guard node.inputs.count == 2, let a = node.inputs[0], let b = node.inputs[1], !isOneElement(current) else { break }
            if node.op is Mul, let s = scalar(b), scalar(a) == nil {
                scale *= s
                current = a
            } else if node.op is Mul, let s = scalar(a), scalar(b) == nil {
                scale *= s
                current = b
            } else if node.op is Div, let s = scalar(b), s != 0, scalar(a) == nil {
                scale /= s
                current = a
            } else if node.op is Mul || node.op is Div, isOneElement(b), !isOneElement(a) {
                factors.append((b, node.op is Div))
                current = a
            } else if node.op is Mul, isOneElement(a), !isOneElement(b) {
                factors.append((a, false))
                current = b
            } else {
                break
            }
            nodes.append(index)
            nodes += noOpChain(current)
            current = skipNoOps(current)
        }
        return (current, scale, nodes, factors)
    }

    /// `value` evaluated with the reference ops, the tensors in `shapes` standing in for the values
    /// whose shapes are read; nil when it depends on anything else or is not small.
    func evaluate(_ value: ValueID?, shapes: [ValueID: [Int]], depth: Int = 12) -> Tensor? {
        guard let value else { return nil }
        if let t = graph.constant(value) { return t.count <= 64 ? t : nil }
        guard depth > 0, let node = producer(value), node.outputs.count == 1 else { return nil }
        var inputs: [Tensor?] = []
        if node.op is Shape {
            guard let x = node.inputs[0], let dims = shapes[x] else { return nil }
            inputs = [Tensor(filling: 0, .f32, shape: dims)]
        } else {
            for input in node.inputs {
                guard let input else {
                    inputs.append(nil)
                    continue
                }
                guard let t = evaluate(input, shapes: shapes, depth: depth - 1) else { return nil }
                inputs.append(t)
            }
        }
        guard let result = try? node.op.evaluate(inputs, outputCount: 1).first, result.count <= 64 else { return nil }
        return result
    }
}
