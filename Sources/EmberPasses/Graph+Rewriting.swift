import EmberIR
import EmberOps

/// Def-use queries and edits that passes share.
extension Graph {
    /// For each value, the index of the node that produces it; nil for inputs and constants.
    public func producers() -> [Int?] {
        var result = [Int?](repeating: nil, count: values.count)
        for (index, node) in nodes.enumerated() {
            for id in node.outputs { result[id.index] = index }
        }
        return result
    }

    /// For each value, how many node operands and graph outputs refer to it.
    public func useCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: values.count)
        for node in nodes {
            for case let id? in node.inputs { counts[id.index] += 1 }
        }
        for id in outputs { counts[id.index] += 1 }
        return counts
    }

    public func isGraphOutput(_ id: ValueID) -> Bool { outputs.contains(id) }
    public func isGraphInput(_ id: ValueID) -> Bool { inputs.contains(id) }

    /// Makes every use of `old` a use of `new`. Graph outputs keep their names: when `old` is an
    /// output, `new` takes over its name if `new` is a node result that is not itself an output;
    /// otherwise an `identity` node under the old name is added at the end.
    public mutating func replaceAllUses(of old: ValueID, with new: ValueID) {
        guard old != new else { return }
        for i in nodes.indices {
            for j in nodes[i].inputs.indices where nodes[i].inputs[j] == old {
                nodes[i].inputs[j] = new
            }
        }
        guard outputs.contains(old) else { return }
        let outputName = name(of: old)
        let newIsPlainResult = !inputs.contains(new) && constants[new] == nil && !outputs.contains(new)
        if newIsPlainResult {
            rename(old, to: uniqueName(outputName + ".replaced"))
            rename(new, to: outputName)
            outputs = outputs.map { $0 == old ? new : $0 }
        } else {
            rename(old, to: uniqueName(outputName + ".replaced"))
            let copy = addValue(outputName, type(of: new))
            nodes.append(Node(name: "", op: Identity(), inputs: [new], outputs: [copy]))
            outputs = outputs.map { $0 == old ? copy : $0 }
        }
    }

    /// Replaces each node for which `lower` returns nodes by those nodes, in order; returns
    /// whether any node was replaced. `lower` may add values and constants to the graph.
    public mutating func replacingNodes(_ lower: (Node, inout Graph) throws -> [Node]?) rethrows -> Bool {
        var replaced: [Node] = []
        var changed = false
        for node in nodes {
            if let lowered = try lower(node, &self) {
                replaced += lowered
                changed = true
            } else {
                replaced.append(node)
            }
        }
        nodes = replaced
        return changed
    }

    /// Removes the nodes at `indices`; their outputs must no longer be used.
    public mutating func removeNodes(_ indices: Set<Int>) {
        guard !indices.isEmpty else { return }
        nodes = nodes.enumerated().filter { !indices.contains($0.offset) }.map(\.element)
    }

    /// Drops constants nothing uses any more.
    @discardableResult
    public mutating func removeUnusedConstants() -> Bool {
        let uses = useCounts()
        let unused = constants.keys.filter { uses[$0.index] == 0 }
        for id in unused { constants[id] = nil }
        return !unused.isEmpty
    }

    /// Adds a constant value (a new one; passes that fold values call this).
    public mutating func addConstant(_ tensor: Tensor, name: String?) -> ValueID {
        let id = addValue(name, tensor.type)
        constants[id] = tensor
        return id
    }

    /// The constant value of `id`, if it is one.
    public func constant(_ id: ValueID?) -> Tensor? { id.flatMap { constants[$0] } }
}
