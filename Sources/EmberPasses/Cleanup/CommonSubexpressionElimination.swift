import EmberIR

/// Merges computations that are the same: constants with equal contents (bit for bit), and nodes
/// of the same op with equivalent attributes on the same inputs (in either order for commutative
/// ops). Later duplicates are replaced by the first.
///
///     %a = relu(%x)
///     %b = relu(%x)        // uses of %b become uses of %a
public struct CommonSubexpressionElimination: Pass {
    public static let name = "common-subexpression"
    public init() {}

    /// Nodes that may be the same: same op, inputs and output count.
    struct NodeKey: Hashable {
        var op: String
        var inputs: [Int]
        var outputs: Int
    }

    /// Constants that may be equal: same type, same first and last elements.
    struct ConstantKey: Hashable {
        var dtype: DType
        var shape: [Int]
        var sample: [UInt8]
    }

    public func run(_ graph: inout Graph) throws -> Bool {
        var changed = false
        var replacement: [ValueID: ValueID] = [:]
        // Constants first, so nodes reading equal constants then match.
        var constantsByKey: [ConstantKey: [ValueID]] = [:]
        for id in graph.constantIDs {
            guard let t = graph.constants[id] else { continue }
            let key = ConstantKey(dtype: t.dtype, shape: t.shape, sample: Self.sample(t))
            let candidates = constantsByKey[key, default: []]
            // Small constants are sampled whole; larger ones are compared byte for byte.
            let bytes = candidates.isEmpty || t.count <= 64 ? nil : t.bytes()
            let same = candidates.first { other in t.count <= 64 || graph.constants[other]?.bytes() == bytes }
            if let same, !graph.isGraphOutput(id) {
                replacement[id] = same
                graph.constants[id] = nil
                changed = true
            } else {
                constantsByKey[key, default: []].append(id)
            }
        }
        var nodesByKey: [NodeKey: [Int]] = [:]
        var removed: Set<Int> = []
        for index in graph.nodes.indices {
            var node = graph.nodes[index]
            if !replacement.isEmpty {
                node.inputs = node.inputs.map { $0.map { replacement[$0] ?? $0 } }
                graph.nodes[index].inputs = node.inputs
            }
            var inputs = node.inputs.map { $0?.index ?? -1 }
            if node.op.traits.contains(.commutative) { inputs.sort() }
            let key = NodeKey(op: node.op.name, inputs: inputs, outputs: node.outputs.count)
            let match = nodesByKey[key, default: []].first { other in
                let first = graph.nodes[other]
                return Self.equivalent(first.op, node.op)
                    && zip(node.outputs, first.outputs).allSatisfy { graph.canForward($0, to: $1) }
            }
            guard let match else {
                nodesByKey[key, default: []].append(index)
                continue
            }
            for (old, new) in zip(node.outputs, graph.nodes[match].outputs) {
                if graph.isGraphOutput(old) {
                    graph.replaceAllUses(of: old, with: new)
                } else {
                    replacement[old] = new
                }
            }
            removed.insert(index)
            changed = true
        }
        graph.removeNodes(removed)
        return changed
    }

    /// Same op and attributes, with tensor attributes equal bit for bit (so `-0.0` differs from `0.0`).
    static func equivalent(_ a: any Operator, _ b: any Operator) -> Bool {
        guard a.isEquivalent(to: b) else { return false }
        for (x, y) in zip(a.attributes.entries, b.attributes.entries) {
            if case .tensor(let s) = x.value, case .tensor(let t) = y.value, s.bytes() != t.bytes() { return false }
            if case .float(let s) = x.value, case .float(let t) = y.value, s.bitPattern != t.bitPattern { return false }
            if case .floats(let s) = x.value, case .floats(let t) = y.value, s.map(\.bitPattern) != t.map(\.bitPattern) {
                return false
            }
        }
        return true
    }

    /// The bytes of the first and last few elements, to tell most different constants apart cheaply.
    static func sample(_ t: Tensor) -> [UInt8] {
        let n = t.count
        if n <= 64 { return t.bytes() }
        let picks = Array(0..<8) + Array((n - 8)..<n)
        return t.gathering(picks, shape: [picks.count]).bytes()
    }
}

extension Graph {
    /// Whether every use of `old` can become a use of `new` without an `identity` being added
    /// to keep a graph output's name (which would only move the copy elsewhere).
    func canForward(_ old: ValueID, to new: ValueID) -> Bool {
        guard isGraphOutput(old) else { return true }
        return !isGraphInput(new) && constants[new] == nil && !isGraphOutput(new)
    }
}
