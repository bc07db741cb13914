import EmberIR
import EmberOps

/// Folds the shape computations exporters emit (`shape -> gather -> unsqueeze -> concat -> reshape`
/// and the like), evaluating them over symbolic dims:
///
/// - a value whose elements are all known becomes a constant (`gather(shape(f32[batch,768]), 1)` is 768);
/// - a `reshape` target that is computed but whose elements are symbolic becomes a constant that
///   copies input dims with `0` and infers at most one dim with `-1`;
/// - an `expand` target likewise, with `1` where the target repeats the input's dim.
///
/// The computations left without users are removed by `dead-code`.
public struct FoldShapeComputations: Pass {
    public static let name = "fold-shape-computations"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        let analysis = ShapeAnalysis(graph)
        var folded: Set<Int> = []
        var changed = false
        for index in graph.nodes.indices {
            let node = graph.nodes[index]
            let tensors = node.outputs.compactMap { analysis.values[$0.index]?.tensor }
            if !node.outputs.isEmpty, tensors.count == node.outputs.count {
                // The outputs become constants under their own names.
                for (id, tensor) in zip(node.outputs, tensors) {
                    graph.setType(id, tensor.type)
                    graph.constants[id] = tensor
                }
                folded.insert(index)
                changed = true
                continue
            }
            guard node.inputs.count == 2, let x = node.inputs[0], let target = node.inputs[1],
                graph.constants[target] == nil, let value = analysis.values[target.index], value.shape.count == 1
            else { continue }
            let input = analysis.types[x.index].shape
            let name = graph.name(of: node.outputs[0]) + ".shape"
            if let reshape = node.op as? Reshape,
                let (dims, allowZero) = Self.reshapeTarget(value.elements, input: input, allowZero: reshape.allowZero)
            {
                graph.nodes[index].op = Reshape(allowZero: allowZero)
                graph.nodes[index].inputs[1] = graph.addConstant(Tensor(shape: [dims.count], int64s: dims.map(Int64.init)), name: name)
                changed = true
            } else if node.op is Expand, let dims = Self.expandTarget(value.elements, input: input) {
                graph.nodes[index].inputs[1] = graph.addConstant(Tensor(shape: [dims.count], int64s: dims.map(Int64.init)), name: name)
                changed = true
            }
        }
        graph.removeNodes(folded)
        return changed
    }

    /// A constant reshape target for symbolic elements: known sizes stay, a size equal to the input
    /// dim at the same position becomes `0` (copy), and one other size becomes `-1` (infer).
    /// Returns the target and the `allowzero` it needs, or nil when it cannot be said so.
    static func reshapeTarget(_ elements: [SymbolicInt?], input: [Dim]?, allowZero: Bool) -> ([Int], Bool)? {
        var dims: [Int] = []
        var inferred = false
        var copies = false
        for (i, element) in elements.enumerated() {
            guard let e = element else { return nil }
            if let k = e.known {
                if k == -1 {
                    guard !inferred else { return nil }
                    inferred = true
                } else if k == 0 {
                    // With allowzero a 0 is an empty dim, which copying and inferring cannot coexist with.
                    guard !allowZero else { return nil }
                    copies = true
                } else if k < -1 {
                    return nil
                }
                dims.append(k)
            } else if let input, i < input.count, SymbolicInt(input[i]) == e {
                dims.append(0)
                copies = true
            } else {
                guard !inferred else { return nil }
                inferred = true
                dims.append(-1)
            }
        }
        // Without any 0 in the target, allowzero makes no difference; with copies it must be off.
        return (dims, copies ? false : allowZero)
    }

    /// A constant expand target: known sizes stay, a size equal to the input dim it lines up with becomes 1.
    static func expandTarget(_ elements: [SymbolicInt?], input: [Dim]?) -> [Int]? {
        guard let input else { return nil }
        let offset = elements.count - input.count
        var dims: [Int] = []
        for (j, element) in elements.enumerated() {
            guard let e = element else { return nil }
            if let k = e.known {
                guard k >= 0 else { return nil }
                dims.append(k)
            } else if j - offset >= 0, SymbolicInt(input[j - offset]) == e {
                dims.append(1)
            } else {
                return nil
            }
        }
        return dims
    }
}
