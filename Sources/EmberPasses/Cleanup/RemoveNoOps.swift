import EmberIR
import EmberOps

/// Removes nodes whose output is one of their inputs, unchanged. Each rule holds only where the
/// types prove the output has the input's dtype and shape (every dim known or the same symbol):
///
///     identity(x) -> x                     dropout(x) -> x        (inference, mask unused)
///     cast(x, to: dtype of x) -> x         transpose(x, perm: [0, 1, ..., n-1]) -> x
///     reshape / squeeze / unsqueeze / flatten / expand / tile / concat / split to x's shape -> x
///     slice(x) taking everything -> x      pad(x) with all pads 0 -> x
///     x * 1, 1 * x, x / 1, x + 0, 0 + x, x - 0, x ^ 1 -> x  (where broadcasting keeps x's shape)
///     and(x, true), or(x, false), where(true, x, y) -> x
public struct RemoveNoOps: Pass {
    public static let name = "remove-no-ops"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        let uses = graph.useCounts()
        let types = ShapeAnalysis(graph).types
        var replacement: [ValueID: ValueID] = [:]
        var removed: Set<Int> = []
        for index in graph.nodes.indices {
            if !replacement.isEmpty {
                graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0.map { replacement[$0] ?? $0 } }
            }
            let node = graph.nodes[index]
            guard let input = Self.forwardedInput(node, graph, types, uses), let output = node.outputs.first,
                graph.canForward(output, to: input)
            else { continue }
            if graph.isGraphOutput(output) {
                graph.replaceAllUses(of: output, with: input)
            } else {
                replacement[output] = input
            }
            removed.insert(index)
        }
        graph.removeNodes(removed)
        return !removed.isEmpty
    }

    /// The input that `node`'s only used output equals, if a rule proves it.
    static func forwardedInput(_ node: Node, _ graph: Graph, _ types: [TensorType], _ uses: [Int]) -> ValueID? {
        guard let output = node.outputs.first, node.outputs.dropFirst().allSatisfy({ uses[$0.index] == 0 }),
            let x = node.inputs.first ?? nil
        else { return nil }
        // The analysis' types, where dims known to be equal share a symbol even when unknown.
        let out = types[output.index]
        func same(_ id: ValueID) -> Bool { sameShape(types[id.index], out) }
        func constant(_ i: Int) -> Tensor? { i < node.inputs.count ? graph.constant(node.inputs[i]) : nil }
        func all(_ i: Int, _ value: Double) -> Bool { constant(i).map { $0.doubles().allSatisfy { $0 == value } } ?? false }
        switch node.op {
        case is Identity:
            return x
        case is Dropout:
            // Inference mode, or a ratio of 0: the input unchanged.
            let training = node.inputs.count > 2 ? node.inputs[2] : nil
            guard training == nil || constant(2)?.bools().allSatisfy({ !$0 }) == true || all(1, 0) else { return nil }
            return same(x) ? x : nil
        case let cast as Cast:
            return types[x.index].dtype == cast.to && same(x) ? x : nil
        case let transpose as Transpose:
            guard let rank = types[x.index].rank else { return nil }
            let perm = transpose.perm ?? Array((0..<rank).reversed())
            return perm == Array(0..<rank) && same(x) ? x : nil
        case is Expand:
            // Ones keep every dim: expand(x, [1, 1]) is x for x of rank 2 or more.
            if let target = constant(1), let rank = types[x.index].rank, target.count <= rank,
                target.ints().allSatisfy({ $0 == 1 }), types[x.index].dtype == out.dtype
            {
                return x
            }
            return same(x) ? x : nil
        case is Reshape, is Squeeze, is Unsqueeze, is Flatten, is Tile, is Concat, is Split:
            // These keep the elements in order; at the same shape they change nothing.
            guard node.outputs.count == 1, !(node.op is Concat && node.inputs.count != 1) else { return nil }
            return same(x) ? x : nil
        case is SliceOp:
            // A slice at the same shape with positive steps starts at 0 and takes every element.
            if node.inputs.count > 4, node.inputs[4] != nil {
                guard let steps = constant(4), steps.ints().allSatisfy({ $0 > 0 }) else { return nil }
            }
            return same(x) ? x : nil
        case is Pad:
            guard let pads = constant(1), pads.ints().allSatisfy({ $0 == 0 }) else { return nil }
            return same(x) ? x : nil
        case is Add, is Or:
            if all(1, 0), same(x) { return x }
            if let y = node.inputs[1], all(0, 0), same(y) { return y }
            return nil
        case is Mul, is And:
            if all(1, 1), same(x) { return x }
            if let y = node.inputs[1], all(0, 1), same(y) { return y }
            return nil
        case is Sub:
            return all(1, 0) && same(x) ? x : nil
        case is Div, is Pow:
            return all(1, 1) && same(x) ? x : nil
        case is Where:
            guard let a = node.inputs[1], constant(0)?.bools().allSatisfy({ $0 }) == true else { return nil }
            return same(a) ? a : nil
        default:
            return nil
        }
    }

    /// Same dtype and a shape whose every dim is known or the same symbol.
    static func sameShape(_ a: TensorType, _ b: TensorType) -> Bool {
        guard a.dtype == b.dtype, let sa = a.shape, let sb = b.shape, sa.count == sb.count else { return false }
        return zip(sa, sb).allSatisfy { $0 != .unknown && $0 == $1 }
    }
}
