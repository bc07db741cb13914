import EmberIR
import EmberOps

/// Composes a transpose of a transpose into one, and removes the pair when they cancel.
///
///     transpose(transpose(x, perm: [0, 2, 1, 3]), perm: [0, 2, 1, 3]) -> x
///     transpose(transpose(x, perm: [1, 0, 2]), perm: [0, 2, 1]) -> transpose(x, perm: [1, 2, 0])
public struct MergeTransposes: Pass {
    public static let name = "merge-transposes"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        let producers = graph.producers()
        var replacement: [ValueID: ValueID] = [:]
        var removed: Set<Int> = []
        var changed = false
        for index in graph.nodes.indices {
            if !replacement.isEmpty {
                graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0.map { replacement[$0] ?? $0 } }
            }
            let node = graph.nodes[index]
            guard let outer = node.op as? Transpose, let mid = node.inputs.first ?? nil,
                let p = producers[mid.index], !removed.contains(p), let inner = graph.nodes[p].op as? Transpose,
                let x = graph.nodes[p].inputs.first ?? nil, let rank = graph.type(of: x).rank
            else { continue }
            let first = inner.perm ?? Array((0..<rank).reversed())
            let second = outer.perm ?? Array((0..<rank).reversed())
            guard first.count == rank, second.count == rank, second.allSatisfy({ $0 >= 0 && $0 < rank }) else { continue }
            // Output axis k is mid's axis second[k], which is x's axis first[second[k]].
            let composed = second.map { first[$0] }
            if composed == Array(0..<rank) {
                let output = node.outputs[0]
                guard graph.canForward(output, to: x) else { continue }
                if graph.isGraphOutput(output) {
                    graph.replaceAllUses(of: output, with: x)
                } else {
                    replacement[output] = x
                }
                removed.insert(index)
            } else {
                graph.nodes[index].op = Transpose(perm: composed)
                graph.nodes[index].inputs = [x]
            }
            changed = true
        }
        graph.removeNodes(removed)
        return changed
    }
}
