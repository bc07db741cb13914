import EmberIR
import EmberOps

/// Folds multiplying, dividing, adding or subtracting constants (scalars, or one value per output
/// channel) into the weights and bias of the conv, gemm or matmul producing the other operand:
///
///     conv(x, W, b) * s        -> conv(x, W * s, b * s)
///     gemm(x, B, c) + t        -> gemm(x, B, c + t)
///     (matmul(x, W) + b) / s   -> matmul(x, W / s) + b / s
///
/// Only when the op's result feeds nothing else.
public struct FoldScalarIntoWeights: PatternPass {
    public static let name = "fold-scalar-into-weights"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.outputs.count == 1, node.inputs.count == 2, let a = node.inputs[0], let b = node.inputs[1],
              node.op is Mul || node.op is Div || node.op is Add || node.op is Sub else { return false }
        // (the operand from the weighted op, the constant, whether the op's result is the first operand)
        var candidates: [(ValueID, Tensor, Bool)] = []
        if let c = view.constant(b), view.constant(a) == nil { candidates.append((a, c, true)) }
        if let c = view.constant(a), view.constant(b) == nil, !(node.op is Div) { candidates.append((b, c, false)) }
        for (y, c, first) in candidates {
            guard let producer = view.producerIndex(y), rewriter.isFree([index, producer]),
                  view.usedOnlyBy(y, [index]), c.dtype == view.type(y).dtype, c.dtype.isFloatingPoint,
                  let axis = channelAxis(view.graph.nodes[producer], view: view),
                  let values = channelValues(c, rank: view.type(y).rank, axis: axis) else { continue }
            // A bias added to a plain matmul is a linear layer, which recognize-linear makes.
            if !(node.op is Mul || node.op is Div), view.graph.nodes[producer].op is MatMul { continue }
            let affine: ChannelAffine
            switch node.op {
            case is Mul: affine = ChannelAffine(scale: values, shift: [0])
            case is Div:
                guard values.allSatisfy({ $0 != 0 }) else { continue }
                affine = ChannelAffine(scale: values.map { 1 / $0 }, shift: [0])
            case is Add: affine = ChannelAffine(scale: [1], shift: values)
            default: affine = first ? ChannelAffine(scale: [1], shift: values.map { -$0 }) : ChannelAffine(scale: [-1], shift: values)
            }
            var consumed = [producer]
            guard let nodes = WeightFolding.fold(
                affine, into: producer, output: node.outputs[0], view: view, graph: &graph, consumed: &consumed)
            else { continue }
            rewriter.replace(index, with: nodes, removing: consumed + [index])
            return true
        }
        return false
    }

    /// The output channel axis of a weighted op: 1 for conv, the last for gemm and matmul.
    private func channelAxis(_ producer: Node, view: MatchView) -> Int? {
        guard let rank = producer.outputs.first.flatMap({ view.type($0).rank }) else { return nil }
        switch producer.op {
        case is Conv: return 1
        case is Gemm, is MatMul, is Add: return rank - 1
        default: return nil
        }
    }

    /// The values of constant `c` broadcast against a result of `rank`, if it varies at most
    /// along `axis` and adds no dims.
    private func channelValues(_ c: Tensor, rank: Int?, axis: Int) -> [Double]? {
        guard let rank, c.rank <= rank else { return nil }
        if c.count == 1 { return c.doubles() }
        let padded = Array(repeating: 1, count: rank - c.rank) + c.shape
        for (d, size) in padded.enumerated() where d != axis && size != 1 { return nil }
        return c.doubles()
    }
}
