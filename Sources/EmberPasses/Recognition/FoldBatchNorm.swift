import EmberIR
import EmberOps

/// Folds an inference batch norm into the constant weights of the conv, gemm or matmul before it:
/// `bn(conv(x, W, b)) -> conv(x, W * f, (b - mean) * f + beta)` with `f = gamma / sqrt(var + eps)`
/// per output channel. A batch norm with nothing to fold into becomes `x * f + (beta - mean * f)`
/// with per-channel constants, so no batch norm is left.
public struct FoldBatchNorm: PatternPass {
    public static let name = "fold-batchnorm"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard let bn = node.op as? BatchNorm, node.outputs.count == 1, node.inputs.count == 5,
              let x = node.inputs[0], rewriter.isFree([index]) else { return false }
        let parameters = node.inputs.dropFirst().map { view.constant($0) }
        guard parameters.allSatisfy({ $0 != nil }) else { return false }
        let p = parameters.compactMap { $0 }.map { $0.doubles() }
        let channels = p[0].count
        guard channels > 0, p.allSatisfy({ $0.count == channels }) else { return false }
        if let c = view.type(x).shape?[1].value, c != channels { return false }
        let factor = (0..<channels).map { p[0][$0] / (p[3][$0] + bn.epsilon).squareRoot() }
        let affine = ChannelAffine(scale: factor, shift: (0..<channels).map { p[1][$0] - p[2][$0] * factor[$0] })
        let output = node.outputs[0]

        if let producer = view.producerIndex(x), rewriter.isFree([producer]), view.usedOnlyBy(x, [index]),
           foldsOnChannelAxis(view.graph.nodes[producer], view: view) {
            var consumed = [producer]
            if let nodes = WeightFolding.fold(
                affine, into: producer, output: output, view: view, graph: &graph, consumed: &consumed)
            {
                rewriter.replace(index, with: nodes, removing: consumed + [index])
                return true
            }
        }

        // Nothing to fold into: a multiply and an add by per-channel constants.
        let dtype = view.type(x).dtype
        guard let rank = view.type(x).rank, rank >= 2, dtype.isFloatingPoint else { return false }
        let shape = [channels] + Array(repeating: 1, count: rank - 2)
        let scale = graph.addConstant(Tensor(dtype, shape: shape, doubles: affine.scale), after: output, ".scale")
        let shift = graph.addConstant(Tensor(dtype, shape: shape, doubles: affine.shift), after: output, ".shift")
        let scaled = graph.addResult(output, ".scaled", view.type(output))
        rewriter.replace(index, with: [
            Node(name: node.name, op: Mul(), inputs: [x, scale], outputs: [scaled]),
            Node(name: node.name, op: Add(), inputs: [scaled, shift], outputs: [output]),
        ], removing: [index])
        return true
    }

    /// Whether the producer's output channels are on axis 1, where the batch norm normalizes.
    private func foldsOnChannelAxis(_ producer: Node, view: MatchView) -> Bool {
        switch producer.op {
        case is Conv, is Gemm: true
        case is MatMul, is Add: producer.outputs.first.flatMap { view.type($0).rank } == 2
        default: false
        }
    }
}
