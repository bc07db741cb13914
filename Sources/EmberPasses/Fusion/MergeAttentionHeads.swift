import EmberIR
import EmberOps

/// Attention on heads split out of `[batch, seq, heads * size]` and merged back, rewritten to
/// attention's 3-D form, which reads and writes that layout in place of the copies:
///
///     q4 = transpose(reshape(q, [b, s, h, d]), perm: [0, 2, 1, 3])        (and k4, v4 alike)
///     y = reshape(transpose(attention(q4, k4, v4, mask?), perm: [0, 2, 1, 3]), [b, s, h * d])
///       ->  y = attention(q, k, v, mask?) {q_num_heads = h, kv_num_heads = h_kv}
///
/// when nothing else reads the split, transposed or unmerged tensors. The mask keeps its
/// meaning: in both forms it broadcasts to `[batch, heads, queries, keys]`.
///
/// The batch and sequence dims must be proven to pass through the reshapes unchanged: equal in
/// the value types, or copied by the reshape itself (a `0` in its shape constant, or the `-1`
/// when the other dims account for everything else), as exporters write them when the
/// sequence length is not known: `reshape(f32[batch,?,768], [0, 0, -1, 64])`.
public struct MergeAttentionHeads: PatternPass {
    public static let name = "merge-attention-heads"
    public init() {}

    /// The perm that swaps heads and sequence.
    private static let swap = [0, 2, 1, 3]

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let root = view.graph.nodes[index]
        guard let reshape = root.op as? Reshape, root.outputs.count == 1, let merged = root.inputs[0],
              let back = view.match(merged, Transpose.self), back.op.perm == Self.swap, let o = back.node.inputs[0],
              let attention = view.match(o, Attention.self), attention.node.outputs.count == 1,
              attention.op.qNumHeads == nil, attention.op.kvNumHeads == nil,
              attention.node.inputs.count >= 3, attention.node.inputs.dropFirst(4).allSatisfy({ $0 == nil })
        else { return false }
        // y: [b, s, h * dv] from o: [b, h, s, dv], through the transposed [b, s, h, dv].
        guard let heads = view.type(o).shape, heads.count == 4, let dims = ReshapeDims((index, root, reshape), view: view),
              dims.output.count == 3, dims.keeps(0, from: 0), dims.keeps(1, from: 1),
              let width = dims.size(2), Self.product(heads[1], heads[3]) == width
        else { return false }
        var pattern = [index, back.index, attention.index]
        var sources: [ValueID?] = []
        var headCounts: [Int] = []
        for input in attention.node.inputs.prefix(3) {
            guard let (x, count, nodes) = splitHeads(input, view: view) else { return false }
            sources.append(x)
            headCounts.append(count)
            pattern += nodes
        }
        guard headCounts[1] == headCounts[2], heads[1].value == headCounts[0],
              rewriter.isFree(pattern), view.isClosed(pattern, root: index)
        else { return false }
        var op = attention.op
        op.qNumHeads = headCounts[0]
        op.kvNumHeads = headCounts[1]
        let mask = attention.node.inputs.count > 3 ? attention.node.inputs[3] : nil
        let node = Node(name: attention.node.name, op: op, inputs: sources + (mask.map { [$0] } ?? []), outputs: root.outputs)
        rewriter.replace(index, with: [node], removing: pattern)
        return true
    }

    /// `x` when `value` is `transpose(reshape(x, [b, s, h, d]), perm: [0, 2, 1, 3])` with x of
    /// shape `[b, s, h * d]`: x, the head count h and the two nodes.
    private func splitHeads(_ value: ValueID?, view: MatchView) -> (ValueID, Int, [Int])? {
        guard let split = view.match(value, Transpose.self), split.op.perm == Self.swap, let x4 = split.node.inputs[0],
              let reshape = view.match(x4, Reshape.self), let x = reshape.node.inputs[0],
              let dims = ReshapeDims(reshape, view: view), dims.input.count == 3, dims.output.count == 4,
              dims.keeps(0, from: 0), dims.keeps(1, from: 1),
              let heads = dims.size(2), let size = dims.size(3), heads * size == dims.input[2].value
        else { return nil }
        return (x, heads, [split.index, reshape.index])
    }

    private static func product(_ a: Dim, _ b: Dim) -> Int? {
        guard let a = a.value, let b = b.value else { return nil }
        return a * b
    }
}

/// What a reshape's types and shape constant prove about its dims.
///
/// Unknown input dims get placeholder symbols, and the output dims are resolved from the shape
/// constant against them by `Reshape`'s own rule, so a dim the reshape copies (a `0`, without
/// `allowzero`) or forces (the `-1`, when the other dims cancel) comes out as the same symbol:
///
///     reshape(f32[batch,?,768], [0, 0, -1, 64])  ->  resolved [batch, ?1, 12, 64]
///     reshape(f32[?,?,768], [3, -1, 12, 64])     ->  resolved [3, ?, 12, 64]: dim 1 is not ?1
private struct ReshapeDims {
    /// The dims in the value types.
    let input: [Dim], output: [Dim]
    /// Input dims with placeholders for unknowns, and the output dims resolved against them;
    /// nil when the shape is not a constant.
    let named: [Dim]?, resolved: [Dim]?

    init?(_ reshape: (index: Int, node: Node, op: Reshape), view: MatchView) {
        guard let x = reshape.node.inputs[0], let input = view.type(x).shape,
              let output = view.type(reshape.node.outputs[0]).shape
        else { return nil }
        (self.input, self.output) = (input, output)
        let taken = Set(input.compactMap { if case .symbol(let s) = $0 { s } else { nil } })
        var prefix = "?"
        while taken.contains(where: { $0.hasPrefix(prefix) }) { prefix += "?" }
        let named = input.enumerated().map { i, d in d == .unknown ? Dim.symbol("\(prefix)\(i)") : d }
        guard reshape.node.inputs.count > 1, let target = view.constant(reshape.node.inputs[1])?.ints(),
              let resolved = try? reshape.op.outputDims(named, target), resolved.count == output.count
        else {
            (self.named, self.resolved) = (nil, nil)
            return
        }
        (self.named, self.resolved) = (named, resolved)
    }

    /// Whether output dim `o` is input dim `i`, for every input the reshape accepts.
    func keeps(_ o: Int, from i: Int) -> Bool {
        guard o < output.count, i < input.count else { return false }
        if output[o] == input[i], input[i] != .unknown { return true }
        guard let named, let resolved else { return false }
        return resolved[o] == named[i] && named[i] != .unknown
    }

    /// The size of output dim `o`, where known.
    func size(_ o: Int) -> Int? { output[o].value ?? resolved?[o].value }
}
