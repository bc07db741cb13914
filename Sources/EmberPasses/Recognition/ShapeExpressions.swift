import EmberIR
import EmberOps

/// One element of a shape vector computed in the graph: a number, a named symbolic dim, or an
/// otherwise unknown dim of some tensor.
enum DimExpression: Equatable {
    case constant(Int)
    case symbol(String)
    case dim(ValueID, Int)
}

extension MatchView {
    /// Dim `i` of `value`: its size or symbol when the type knows it, else a reference to it.
    func dimExpression(_ value: ValueID, _ i: Int) -> DimExpression {
        switch type(value).shape?[i] {
        case .known(let size): .constant(size)
        case .symbol(let name): .symbol(name)
        default: .dim(value, i)
        }
    }

    /// The elements of a small integer vector computed from shapes, when every element is a
    /// constant or a dim of a tensor: follows shape, gather, slice, concat, (un)squeeze and casts.
    func dimExpressions(_ value: ValueID?, depth: Int = 8) -> [DimExpression]? {
        guard let value, depth > 0 else { return nil }
        if let t = constant(value) {
            guard t.dtype.isInteger, t.rank <= 1, t.count <= 8 else { return nil }
            return t.ints().map { .constant($0) }
        }
        guard let node = producer(value), node.outputs.count == 1 else { return nil }
        let input = node.inputs.first ?? nil
        switch node.op {
        case let shape as Shape:
            guard let x = input, let rank = type(x).rank else { return nil }
            return shape.range(rank: rank).map { dimExpression(x, $0) }
        case let concat as Concat:
            guard concat.axis == 0 || concat.axis == -1 else { return nil }
            var out: [DimExpression] = []
            for part in node.inputs {
                guard let exprs = dimExpressions(part, depth: depth - 1) else { return nil }
                out += exprs
            }
            return out
        case let gather as Gather:
            guard gather.axis == 0, let source = dimExpressions(input, depth: depth - 1),
                  let indices = constant(node.inputs[1])?.ints() else { return nil }
            var out: [DimExpression] = []
            for i in indices {
                let j = i < 0 ? i + source.count : i
                guard j >= 0, j < source.count else { return nil }
                out.append(source[j])
            }
            return out
        case is SliceOp:
            guard let source = dimExpressions(input, depth: depth - 1),
                  let starts = constant(node.inputs[1])?.ints(), let ends = constant(node.inputs[2])?.ints(),
                  starts.count == 1, ends.count == 1 else { return nil }
            if node.inputs.count > 3, let axes = node.inputs[3], !([[0], [-1]] as [[Int]]).contains(constant(axes)?.ints() ?? []) {
                return nil
            }
            if node.inputs.count > 4, let steps = node.inputs[4], constant(steps)?.ints() != [1] { return nil }
            let (start, end) = (Axes.clamp(starts[0], count: source.count), Axes.clamp(ends[0], count: source.count))
            return start < end ? Array(source[start..<end]) : []
        case is Unsqueeze, is Squeeze, is Cast, is Identity, is Reshape:
            guard let source = dimExpressions(input, depth: depth - 1), source.count == 1 || !(node.op is Reshape) else {
                return nil
            }
            return source
        default:
            return nil
        }
    }
}
