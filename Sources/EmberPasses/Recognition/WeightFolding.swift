import EmberIR
import EmberOps

/// A per-channel affine map `y * scale[c] + shift[c]` applied after an op with constant weights.
/// Each array holds one value (the same for every channel) or one value per channel.
struct ChannelAffine {
    var scale: [Double]
    var shift: [Double]

    static let identity = ChannelAffine(scale: [1], shift: [0])

    func scale(_ c: Int) -> Double { scale.count == 1 ? scale[0] : scale[c] }
    func shift(_ c: Int) -> Double { shift.count == 1 ? shift[0] : shift[c] }
    var hasShift: Bool { shift.contains { $0 != 0 } }
    var hasScale: Bool { scale.contains { $0 != 1 } }
    /// The number of channels it needs, or nil when every array has one value.
    var channels: Int? { max(scale.count, shift.count) > 1 ? max(scale.count, shift.count) : nil }

    /// First this map, then `next`.
    func then(_ next: ChannelAffine) -> ChannelAffine? {
        let counts = Set([scale.count, shift.count, next.scale.count, next.shift.count]).subtracting([1])
        guard counts.count <= 1 else { return nil }
        let n = counts.first ?? 1
        return ChannelAffine(
            scale: (0..<n).map { self.scale($0) * next.scale($0) },
            shift: (0..<n).map { self.shift($0) * next.scale($0) + next.shift($0) })
    }
}

/// Folding a per-channel affine map into the constant weights and bias of the op producing its input.
enum WeightFolding {
    /// The nodes that compute `affine(producer's result)` into `output`, with the weights changed,
    /// replacing the producer (at `producerIndex`) and, for `matmul` followed by a bias `add`, the
    /// `matmul` before it (whose index is added to `consumed`). Nil when the producer's weights
    /// are not constants or the channels do not line up.
    static func fold(
        _ affine: ChannelAffine, into producerIndex: Int, output: ValueID,
        view: MatchView, graph: inout Graph, consumed: inout [Int]
    ) -> [Node]? {
        let node = view.graph.nodes[producerIndex]
        guard node.outputs.count == 1 else { return nil }
        switch node.op {
        case is Conv:
            return foldConv(affine, node, output: output, view: view, graph: &graph)
        case let gemm as Gemm:
            return foldGemm(affine, gemm, node, output: output, view: view, graph: &graph)
        case is MatMul:
            guard !affine.hasShift else { return nil }
            return foldMatMul(affine, node, bias: nil, output: output, view: view, graph: &graph)
        case is Add:
            // matmul(x, W) + b
            for (a, b) in MatchView.orders(node) {
                guard let mm = view.match(a, MatMul.self), view.constant(b) != nil,
                      view.usedOnlyBy(a, [producerIndex]) else { continue }
                guard let nodes = foldMatMul(affine, mm.node, bias: b, output: output, view: view, graph: &graph) else {
                    return nil
                }
                consumed.append(mm.index)
                return nodes
            }
            return nil
        default:
            return nil
        }
    }

    /// `t` multiplied by `factor(i)` at index `i` of `axis`, computed in `Double` and rounded once.
    static func scaled(_ t: Tensor, along axis: Int, by factor: (Int) -> Double) -> Tensor {
        let inner = Tensor.strides(of: t.shape)[axis]
        let size = t.shape[axis]
        let factors = (0..<size).map(factor)
        func apply<T>(_ values: [T], _ multiply: (T, Double) -> T) -> [T] {
            var out = values
            out.withUnsafeMutableBufferPointer { out in
                var i = 0
                while i < out.count {
                    for c in 0..<size {
                        let f = factors[c]
                        for j in i..<min(i + inner, out.count) { out[j] = multiply(out[j], f) }
                        i += inner
                    }
                }
            }
            return out
        }
        if case .f32(let values) = t.storage, inner > 0 {
            return Tensor(shape: t.shape, storage: .f32(apply(values) { Float(Double($0) * $1) }))
        }
        return Tensor(t.dtype, shape: t.shape, doubles: inner > 0 ? apply(t.doubles()) { $0 * $1 } : t.doubles())
    }

    /// A bias as one value per channel, if its shape is `[]`, `[C]` or `[1, ..., 1, C]` (or ones).
    static func perChannel(_ t: Tensor, channels: Int) -> [Double]? {
        let values = t.doubles()
        if values.count == 1 { return Array(repeating: values[0], count: channels) }
        guard values.count == channels, t.shape.last == channels else { return nil }
        return values
    }

    private static func fits(_ affine: ChannelAffine, _ channels: Int) -> Bool {
        affine.channels.map { $0 == channels } ?? true
    }

    private static func foldConv(
        _ affine: ChannelAffine, _ node: Node, output: ValueID, view: MatchView, graph: inout Graph
    ) -> [Node]? {
        guard node.inputs.count >= 2, let x = node.inputs[0], let wID = node.inputs[1], let w = view.constant(wID),
              w.rank >= 3, w.dtype.isFloatingPoint else { return nil }
        let m = w.shape[0]
        guard fits(affine, m) else { return nil }
        var bias = [Double](repeating: 0, count: m)
        if node.inputs.count > 2, let bID = node.inputs[2] {
            guard let b = view.constant(bID), b.count == m else { return nil }
            bias = b.doubles()
        }
        let newW = affine.hasScale ? graph.addConstant(scaled(w, along: 0, by: affine.scale), after: wID, ".folded") : wID
        let newB = graph.addConstant(
            Tensor(w.dtype, shape: [m], doubles: (0..<m).map { bias[$0] * affine.scale($0) + affine.shift($0) }),
            after: output, ".bias")
        return [Node(name: node.name, op: node.op, inputs: [x, newW, newB], outputs: [output])]
    }

    private static func foldGemm(
        _ affine: ChannelAffine, _ gemm: Gemm, _ node: Node, output: ValueID, view: MatchView, graph: inout Graph
    ) -> [Node]? {
        guard node.inputs.count >= 2, let a = node.inputs[0], let bID = node.inputs[1], let b = view.constant(bID),
              b.rank == 2, b.dtype.isFloatingPoint else { return nil }
        let nAxis = gemm.transB ? 0 : 1
        let n = b.shape[nAxis]
        guard fits(affine, n) else { return nil }
        var bias = [Double](repeating: 0, count: n)
        if node.inputs.count > 2, let cID = node.inputs[2] {
            guard let c = view.constant(cID), c.rank <= 2, c.shape.first.map({ c.rank < 2 || $0 == 1 }) ?? true,
                  let values = perChannel(c, channels: n) else { return nil }
            bias = values.map { $0 * gemm.beta }
        }
        let newB = affine.hasScale ? graph.addConstant(scaled(b, along: nAxis, by: affine.scale), after: bID, ".folded") : bID
        let newC = graph.addConstant(
            Tensor(b.dtype, shape: [n], doubles: (0..<n).map { bias[$0] * affine.scale($0) + affine.shift($0) }),
            after: output, ".bias")
        var op = gemm
        op.beta = 1
        return [Node(name: node.name, op: op, inputs: [a, newB, newC], outputs: [output])]
    }

    private static func foldMatMul(
        _ affine: ChannelAffine, _ node: Node, bias: ValueID?, output: ValueID, view: MatchView, graph: inout Graph
    ) -> [Node]? {
        guard node.inputs.count == 2, let a = node.inputs[0], let wID = node.inputs[1], let w = view.constant(wID),
              w.rank == 2, w.dtype.isFloatingPoint, let rank = view.type(a).rank, rank >= 2 else { return nil }
        let n = w.shape[1]
        guard fits(affine, n) else { return nil }
        let newW = affine.hasScale ? graph.addConstant(scaled(w, along: 1, by: affine.scale), after: wID, ".folded") : wID
        guard let bias else {
            return [Node(name: node.name, op: MatMul(), inputs: [a, newW], outputs: [output])]
        }
        guard let b = view.constant(bias), b.rank <= rank, let values = perChannel(b, channels: n) else { return nil }
        let newB = graph.addConstant(
            Tensor(w.dtype, shape: [n], doubles: (0..<n).map { values[$0] * affine.scale($0) + affine.shift($0) }),
            after: bias, ".folded")
        let product = node.outputs[0]
        return [
            Node(name: node.name, op: MatMul(), inputs: [a, newW], outputs: [product]),
            Node(name: "", op: Add(), inputs: [product, newB], outputs: [output]),
        ]
    }
}
