import EmberIR
import EmberOps
import Foundation

/// GELU from its exact form `x * 0.5 * (1 + erf(x / sqrt(2)))` and its tanh form
/// `0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))`, with the factors in any order.
public struct RecognizeGelu: PatternPass {
    public static let name = "recognize-gelu"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.op is Mul, node.outputs.count == 1 else { return false }
        let product = view.product(node.outputs[0])
        guard product.factors.count == 2, MatchView.close(product.scale, 0.5) else { return false }
        for (x, t) in [(product.factors[0], product.factors[1]), (product.factors[1], product.factors[0])] {
            guard view.type(x).dtype.isFloatingPoint, let add = view.match(t, Add.self) else { continue }
            for (e, one) in MatchView.orders(add.node) where view.isScalar(one, 1) {
                var pattern = product.nodes + [add.index]
                let approximate: Gelu.Approximation
                if let erf = view.match(e, Erf.self), let u = erf.node.inputs[0] {
                    // u = x / sqrt(2)
                    let scaled = view.product(u)
                    guard scaled.factors == [x], MatchView.close(scaled.scale, 1 / 2.0.squareRoot()) else { continue }
                    pattern += [erf.index] + scaled.nodes
                    approximate = .none
                } else if let tanh = view.match(e, Tanh.self), let w = tanh.node.inputs[0],
                          let inner = matchTanhArgument(w, x: x, view: view) {
                    pattern += [tanh.index] + inner
                    approximate = .tanh
                } else {
                    continue
                }
                guard rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { continue }
                rewriter.replace(index, with: [
                    Node(name: node.name, op: Gelu(approximate: approximate), inputs: [x], outputs: node.outputs),
                ], removing: pattern)
                return true
            }
        }
        return false
    }

    /// The nodes of `sqrt(2 / pi) * (x + 0.044715 * x^3)`, if `w` is that.
    private func matchTanhArgument(_ w: ValueID, x: ValueID, view: MatchView) -> [Int]? {
        let outer = view.product(w)
        guard outer.factors.count == 1, MatchView.close(outer.scale, (2 / Double.pi).squareRoot(), tolerance: 1e-5),
              let sum = view.match(outer.factors[0], Add.self) else { return nil }
        for (a, cubic) in MatchView.orders(sum.node) where a == x {
            let term = view.product(cubic)
            guard MatchView.close(term.scale, 0.044715, tolerance: 1e-5) else { continue }
            if term.factors == [x, x, x] { return outer.nodes + [sum.index] + term.nodes }
            if term.factors.count == 1, let pow = view.match(term.factors[0], Pow.self), pow.node.inputs[0] == x,
               view.isScalar(pow.node.inputs[1], 3) {
                return outer.nodes + [sum.index] + term.nodes + [pow.index]
            }
        }
        return nil
    }
}

/// SiLU from `x * sigmoid(x)`.
public struct RecognizeSilu: PatternPass {
    public static let name = "recognize-silu"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.op is Mul, node.outputs.count == 1 else { return false }
        for (x, s) in MatchView.orders(node) {
            guard let sigmoid = view.match(s, Sigmoid.self), sigmoid.node.inputs[0] == x,
                  view.type(x).dtype.isFloatingPoint else { continue }
            let pattern = [index, sigmoid.index]
            guard rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { continue }
            rewriter.replace(index, with: [
                Node(name: node.name, op: Silu(), inputs: [x], outputs: node.outputs),
            ], removing: pattern)
            return true
        }
        return false
    }
}

/// Hardswish from `x * hard_sigmoid(x)` (alpha 1/6, beta 1/2) and `x * clip(x + 3, 0, 6) / 6`,
/// with the factors in any order.
public struct RecognizeHardSwish: PatternPass {
    public static let name = "recognize-hardswish"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.op is Mul || node.op is Div, node.outputs.count == 1 else { return false }
        let product = view.product(node.outputs[0])
        guard product.factors.count == 2 else { return false }
        for (x, h) in [(product.factors[0], product.factors[1]), (product.factors[1], product.factors[0])] {
            guard view.type(x).dtype.isFloatingPoint else { continue }
            var pattern = product.nodes
            if let hs = view.match(h, HardSigmoid.self), hs.node.inputs[0] == x, MatchView.close(product.scale, 1),
               MatchView.close(hs.op.alpha, 1.0 / 6, tolerance: 1e-5), MatchView.close(hs.op.beta, 0.5) {
                pattern.append(hs.index)
            } else if let clip = view.match(h, Clip.self), clip.node.inputs.count == 3,
                      MatchView.close(product.scale, 1.0 / 6, tolerance: 1e-5),
                      view.isScalar(clip.node.inputs[1], 0), view.isScalar(clip.node.inputs[2], 6),
                      let shifted = view.match(clip.node.inputs[0], Add.self),
                      MatchView.orders(shifted.node).contains(where: { $0.0 == x && view.isScalar($0.1, 3) }) {
                pattern += [clip.index, shifted.index]
            } else {
                continue
            }
            guard rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { continue }
            rewriter.replace(index, with: [
                Node(name: node.name, op: HardSwish(), inputs: [x], outputs: node.outputs),
            ], removing: pattern)
            return true
        }
        return false
    }
}

/// Softmax from `exp(x - reduce_max(x)) / reduce_sum(exp(x - reduce_max(x)))` over one axis
/// (and the same without subtracting the maximum).
public struct RecognizeSoftmax: PatternPass {
    public static let name = "recognize-softmax"
    public init() {}

    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool {
        let node = view.graph.nodes[index]
        guard node.op is Div, node.outputs.count == 1, node.inputs.count == 2,
              let e = node.inputs[0], let s = node.inputs[1],
              let exp = view.match(e, Exp.self), let sum = view.match(s, ReduceSum.self),
              sum.op.keepdims, sum.node.inputs[0] == e, let d = exp.node.inputs[0],
              let rank = view.type(d).rank, let axes = view.reducedAxes(sum.node, rank: rank), axes.count == 1
        else { return false }
        var pattern = [index, exp.index, sum.index]
        var x = d
        if let sub = view.match(d, Sub.self), let a = sub.node.inputs[0],
           let max = view.match(sub.node.inputs[1], ReduceMax.self), max.node.inputs[0] == a, max.op.keepdims,
           view.reducedAxes(max.node, rank: rank) == axes {
            x = a
            pattern += [sub.index, max.index]
        }
        guard rewriter.isFree(pattern), view.isClosed(pattern, root: index) else { return false }
        rewriter.replace(index, with: [
            Node(name: node.name, op: Softmax(axis: axes[0]), inputs: [x], outputs: node.outputs),
        ], removing: pattern)
        return true
    }
}
