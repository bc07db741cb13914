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
public struct MergeAttentionHeads: PatternPass {
    public static let name = "merge-attention-heads"
    public init() {}

    /// The perm that swaps heads and sequence.
    private static let swap = [0, 2, 1, 3]

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let root = view.graph.nodes[index]
        guard root.op is Reshape, root.outputs.count == 1, let merged = root.inputs[0],
              let back = view.match(merged, Transpose.self), back.op.perm == Self.swap, let o = back.node.inputs[0],
              let attention = view.match(o, Attention.self), attention.node.outputs.count == 1,
              attention.op.qNumHeads == nil, attention.op.kvNumHeads == nil,
              attention.node.inputs.count >= 3, attention.node.inputs.dropFirst(4).allSatisfy({ $0 == nil })
        else { return false }
        // y: [b, s, h * dv] from o: [b, h, s, dv].
        guard let y = view.type(root.outputs[0]).shape, let heads = view.type(o).shape, y.count == 3, heads.count == 4,
              Self.same(y[0], heads[0]), Self.same(y[1], heads[2]), Self.product(heads[1], heads[3]) == y[2].value
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
              let shape = view.type(x).shape, let split4 = view.type(x4).shape, shape.count == 3, split4.count == 4,
              Self.same(shape[0], split4[0]), Self.same(shape[1], split4[1]),
              let heads = split4[2].value, Self.product(split4[2], split4[3]) == shape[2].value
        else { return nil }
        return (x, heads, [split.index, reshape.index])
    }

    /// Whether two dims are the same size: equal and not unknown.
    private static func same(_ a: Dim, _ b: Dim) -> Bool { a == b && a != .unknown }

    private static func product(_ a: Dim, _ b: Dim) -> Int? {
        guard let a = a.value, let b = b.value else { return nil }
        return a * b
    }
}
