import EmberIR
import EmberOps

/// A matrix product by constant weights followed by a constant bias, `matmul(x, W) + b`, as one
/// op: `gemm` when x is 2-D, else `linear`, which keeps x's leading dims (symbolic ones too).
public struct RecognizeLinear: PatternPass {
    public static let name = "recognize-linear"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.op is Add, node.outputs.count == 1 else { return false }
        for (y, b) in MatchView.orders(node) {
            guard let mm = view.match(y, MatMul.self), let x = mm.node.inputs[0], let wID = mm.node.inputs[1],
                  let w = view.constant(wID), w.rank == 2, let bias = view.constant(b), bias.dtype == w.dtype,
                  view.type(x).dtype == w.dtype, w.dtype.isFloatingPoint
            else { continue }
            let n = w.shape[1]
            let rank = view.type(x).rank
            guard bias.count == n, bias.shape.last == n, rank.map({ bias.rank <= $0 && $0 >= 1 }) ?? (bias.rank == 1)
            else { continue }
            let pattern = [index, mm.index]
            guard rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { continue }
            let weight = view.skipNoOps(wID)
            var biasID = view.skipNoOps(b)
            if bias.rank != 1 { biasID = graph.addConstant(bias.reshaped([n]), after: biasID, ".flat") }
            let op: any Operator = rank == 2 ? Gemm() : Linear()
            rewriter.replace(index, with: [
                Node(name: node.name, op: op, inputs: [x, weight, biasID], outputs: node.outputs),
            ], removing: pattern)
            return true
        }
        return false
    }
}
