import EmberIR
import EmberOps

/// Merges consecutive ops that only reshape (`reshape`, `squeeze`, `unsqueeze`, `flatten`) into
/// one `reshape` of the first one's input, or removes both when the second gives back that input's
/// shape (a squeeze undone by an unsqueeze). The new target copies dims with `0` and infers at
/// most one with `-1`, so symbolic shapes stay symbolic.
///
///     reshape(unsqueeze(x: f32[batch,768], [1]), [0, 12, 64, 1]) -> reshape(x, [0, 12, 64, 1])
///     unsqueeze(squeeze(x: f32[batch,1,768], [1]), [1]) -> x
public struct MergeReshapes: Pass {
    public static let name = "merge-reshapes"
    public init() {}

    /// View ops but `identity`, which remove-no-ops takes out on its own.
    static func reshapes(_ op: any Operator) -> Bool { op.traits.contains(.view) && !(op is Identity) }

    public func run(_ graph: inout Graph) throws -> Bool {
        let producers = graph.producers()
        let types = ShapeAnalysis(graph).types
        var replacement: [ValueID: ValueID] = [:]
        var removed: Set<Int> = []
        var changed = false
        for index in graph.nodes.indices {
            if !replacement.isEmpty {
                graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0.map { replacement[$0] ?? $0 } }
            }
            let node = graph.nodes[index]
            guard Self.reshapes(node.op), let mid = node.inputs.first ?? nil, let p = producers[mid.index],
                !removed.contains(p), Self.reshapes(graph.nodes[p].op), let x = graph.nodes[p].inputs.first ?? nil
            else { continue }
            let output = node.outputs[0]
            if RemoveNoOps.sameShape(types[x.index], types[output.index]) {
                guard graph.canForward(output, to: x) else { continue }
                if graph.isGraphOutput(output) {
                    graph.replaceAllUses(of: output, with: x)
                } else {
                    replacement[output] = x
                }
                removed.insert(index)
                changed = true
                continue
            }
            guard let target = Self.target(types[output.index].shape, from: types[x.index].shape) else { continue }
            let shape = graph.addConstant(
                Tensor(shape: [target.count], int64s: target.map(Int64.init)), name: graph.name(of: output) + ".shape")
            graph.nodes[index].op = Reshape()
            graph.nodes[index].inputs = [x, shape]
            changed = true
        }
        graph.removeNodes(removed)
        return changed
    }

    /// A reshape target (without allowzero) giving `output` from `input`: known sizes, `0` where the
    /// output dim is the input dim at the same position, and at most one `-1`.
    static func target(_ output: [Dim]?, from input: [Dim]?) -> [Int]? {
        guard let output else { return nil }
        var target: [Int] = []
        var inferred = false
        for (i, d) in output.enumerated() {
            if let k = d.value, k > 0 {
                target.append(k)
            } else if d != .unknown, d.value != 0, let input, i < input.count, input[i] == d {
                target.append(0)
            } else {
                guard !inferred, d.value != 0 else { return nil }
                inferred = true
                target.append(-1)
            }
        }
        return target
    }
}
