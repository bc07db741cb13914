import EmberIR
import EmberOps

/// What the norm patterns share: `sqrt(reduce_mean(t^2) + eps)` and the affine parameters.
extension MatchView {
    /// `t^2` as `pow(t, 2)` or `mul(t, t)`: returns t and the node.
    func square(_ value: ValueID?) -> (base: ValueID, index: Int)? {
        if let pow = match(value, Pow.self), let base = pow.node.inputs[0], isScalar(pow.node.inputs[1], 2) {
            return (base, pow.index)
        }
        if let mul = match(value, Mul.self), let base = mul.node.inputs[0], mul.node.inputs[1] == base {
            return (base, mul.index)
        }
        return nil
    }

    /// `sqrt(reduce_mean(t^2, trailing axes) + eps)`, or its reciprocal when `inverse` (as
    /// `reciprocal(...)` or `1 / ...`): t, the first reduced axis, eps and the nodes.
    func rootMeanSquare(_ value: ValueID?, inverse: Bool) -> (base: ValueID, axis: Int, epsilon: Double, nodes: [Int])? {
        guard let value else { return nil }
        // Every no-op skipped between pattern nodes joins the pattern, so none is left dangling.
        var nodes = noOpChain(value)
        func skip(_ v: ValueID?) -> ValueID? {
            guard let v else { return nil }
            nodes += noOpChain(v)
            return skipNoOps(v)
        }
        var current: ValueID? = skipNoOps(value)
        if inverse {
            if let r = match(current, Reciprocal.self) {
                nodes.append(r.index)
                current = skip(r.node.inputs[0])
            } else if let d = match(current, Div.self), isScalar(d.node.inputs[0], 1) {
                nodes.append(d.index)
                current = skip(d.node.inputs[1])
            } else {
                return nil
            }
        }
        guard let sqrt = match(current, Sqrt.self), let add = match(skip(sqrt.node.inputs[0]), Add.self) else {
            return nil
        }
        for (m, e) in MatchView.orders(add.node) {
            guard let epsilon = scalar(e), let mean = match(skipNoOps(m), ReduceMean.self),
                  let squared = mean.node.inputs[0], let sq = square(skipNoOps(squared)), let rank = type(sq.base).rank,
                  let axis = reducesTrailing(mean.node, keepdims: mean.op.keepdims, rank: rank) else { continue }
            nodes += [sqrt.index, add.index, mean.index, sq.index] + noOpChain(m) + noOpChain(squared)
            return (sq.base, axis, epsilon, nodes)
        }
        return nil
    }

    /// A constant scale or bias for the normalized dims `rank - axis...`, shaped as they are,
    /// or nil when it would broadcast over other dims.
    func normParameter(_ value: ValueID, rank: Int, axis: Int) -> Tensor? {
        guard let t = constant(value), t.dtype.isFloatingPoint else { return nil }
        var shape = t.shape
        while shape.first == 1, shape.count > rank - axis { shape.removeFirst() }
        guard shape.count <= rank - axis else { return nil }
        return t.reshaped(shape)
    }

    /// The constant `value` itself when it holds `t` as it is, else a new constant holding `t`.
    func constantValue(_ value: ValueID, _ t: Tensor, graph: inout Graph, name: ValueID, _ suffix: String) -> ValueID {
        let id = skipNoOps(value)
        if graph.constant(id)?.shape == t.shape { return id }
        return graph.addConstant(t, after: name, suffix)
    }

    /// Ones of the normalized dims' size when known, else one element that broadcasts.
    func normOnes(_ x: ValueID, axis: Int, _ dtype: DType) -> Tensor {
        let dims = type(x).shape.map { Array($0[axis...]) } ?? []
        if let sizes = TensorType(dtype, dims).knownShape, !sizes.isEmpty {
            return Tensor(filling: 1, dtype, shape: sizes)
        }
        return Tensor(filling: 1, dtype, shape: [1])
    }
}

/// Layer normalization from `(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta`
/// over trailing axes (division or multiplication by the reciprocal, squares as pow or mul,
/// gamma and beta optional).
public struct RecognizeLayerNorm: PatternPass {
    public static let name = "recognize-layer-norm"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.outputs.count == 1, node.inputs.count == 2 else { return false }
        // Peel beta, then gamma.
        var candidates: [(normalized: ValueID, gamma: ValueID?, beta: ValueID?, nodes: [Int])] = []
        func withGamma(_ v: ValueID, beta: ValueID?, nodes: [Int]) {
            if let mul = view.match(view.skipNoOps(v), Mul.self) {
                for (n, g) in MatchView.orders(mul.node) where view.constant(g) != nil {
                    candidates.append((n, g, beta, nodes + [mul.index] + view.noOpChain(v)))
                }
            }
            candidates.append((v, nil, beta, nodes))
        }
        if node.op is Add {
            for (z, b) in MatchView.orders(node) where view.constant(b) != nil { withGamma(z, beta: b, nodes: [index]) }
        } else if node.op is Mul {
            for (n, g) in MatchView.orders(node) where view.constant(g) != nil { candidates.append((n, g, nil, [index])) }
        }
        candidates.append((node.outputs[0], nil, nil, []))

        for candidate in candidates {
            guard let (x, axis, epsilon, normNodes) = matchNormalized(candidate.normalized, view: view),
                  let rank = view.type(x).rank else { continue }
            let pattern = candidate.nodes + normNodes
            guard pattern.contains(index), rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { continue }
            let dtype = view.type(x).dtype
            var inputs: [ValueID?] = [x]
            let output = node.outputs[0]
            for (parameter, suffix) in [(candidate.gamma, ".scale"), (candidate.beta, ".bias")] {
                if let parameter {
                    guard let t = view.normParameter(parameter, rank: rank, axis: axis), t.dtype == dtype else { inputs = []; break }
                    inputs.append(view.constantValue(parameter, t, graph: &graph, name: output, suffix))
                } else if suffix == ".scale" {
                    inputs.append(graph.addConstant(view.normOnes(x, axis: axis, dtype), after: output, suffix))
                }
            }
            guard !inputs.isEmpty else { continue }
            let op = LayerNorm(axis: axis - rank, epsilon: epsilon, stashType: .f32)
            rewriter.replace(index, with: [Node(name: node.name, op: op, inputs: inputs, outputs: [output])], removing: pattern)
            return true
        }
        return false
    }

    /// `(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps)`: x, the first normalized axis, eps and the nodes.
    private func matchNormalized(_ value: ValueID, view: MatchView) -> (ValueID, Int, Double, [Int])? {
        let n = view.skipNoOps(value)
        var candidates: [(ValueID, ValueID, Bool, Int)] = []  // (centered, divisor, divisor is inverse, node)
        if let div = view.match(n, Div.self), let d = div.node.inputs[0], let s = div.node.inputs[1] {
            candidates.append((d, s, false, div.index))
        }
        if let mul = view.match(n, Mul.self) {
            for (d, r) in MatchView.orders(mul.node) { candidates.append((d, r, true, mul.index)) }
        }
        for (centered, divisor, inverse, top) in candidates {
            let d = view.skipNoOps(centered)
            guard let sub = view.match(d, Sub.self), let x = sub.node.inputs[0],
                  let mean = view.match(sub.node.inputs[1], ReduceMean.self), mean.node.inputs[0] == x,
                  let rank = view.type(x).rank,
                  let axis = view.reducesTrailing(mean.node, keepdims: mean.op.keepdims, rank: rank),
                  let rms = view.rootMeanSquare(divisor, inverse: inverse), view.skipNoOps(rms.base) == d, rms.axis == axis
            else { continue }
            let chains = view.noOpChain(centered) + view.noOpChain(value) + view.noOpChain(rms.base)
            return (x, axis, rms.epsilon, [top, sub.index, mean.index] + rms.nodes + chains)
        }
        return nil
    }
}

/// RMS normalization from `x / sqrt(mean(x^2) + eps) * weight` over trailing axes, with the
/// division as a multiplication by `reciprocal(sqrt(...))` or `1 / sqrt(...)`, the weight
/// optional and same-type casts anywhere.
public struct RecognizeRMSNorm: PatternPass {
    public static let name = "recognize-rms-norm"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.outputs.count == 1, node.inputs.count == 2, node.op is Mul || node.op is Div else { return false }
        var candidates: [(normalized: ValueID, weight: ValueID?, nodes: [Int])] = []
        if node.op is Mul {
            for (n, w) in MatchView.orders(node) where view.constant(w) != nil {
                candidates.append((n, w, [index] + view.noOpChain(n)))
            }
        }
        candidates.append((node.outputs[0], nil, []))
        for candidate in candidates {
            guard let (x, axis, epsilon, normNodes) = matchNormalized(view.skipNoOps(candidate.normalized), view: view),
                  let rank = view.type(x).rank else { continue }
            let pattern = candidate.nodes + normNodes
            guard pattern.contains(index), rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { continue }
            let dtype = view.type(x).dtype
            let output = node.outputs[0]
            let scale: ValueID
            if let weight = candidate.weight {
                guard let t = view.normParameter(weight, rank: rank, axis: axis), t.dtype == dtype else { continue }
                scale = view.constantValue(weight, t, graph: &graph, name: output, ".scale")
            } else {
                scale = graph.addConstant(view.normOnes(x, axis: axis, dtype), after: output, ".scale")
            }
            let inputs = [x, scale]
            let op = RMSNorm(axis: axis - rank, epsilon: epsilon, stashType: .f32)
            rewriter.replace(index, with: [Node(name: node.name, op: op, inputs: inputs, outputs: [output])], removing: pattern)
            return true
        }
        return false
    }

    /// `x * (1 / sqrt(mean(x^2) + eps))` or `x / sqrt(mean(x^2) + eps)`.
    private func matchNormalized(_ n: ValueID, view: MatchView) -> (ValueID, Int, Double, [Int])? {
        if let div = view.match(n, Div.self), let x = div.node.inputs[0],
           let rms = view.rootMeanSquare(div.node.inputs[1], inverse: false), view.skipNoOps(x) == view.skipNoOps(rms.base) {
            return (view.skipNoOps(x), rms.axis, rms.epsilon, [div.index] + rms.nodes)
        }
        if let mul = view.match(n, Mul.self) {
            for (x, r) in MatchView.orders(mul.node) {
                guard let rms = view.rootMeanSquare(r, inverse: true), view.skipNoOps(x) == view.skipNoOps(rms.base) else { continue }
                return (view.skipNoOps(x), rms.axis, rms.epsilon, [mul.index] + rms.nodes)
            }
        }
        return nil
    }
}
