import EmberIR

/// Removes nodes whose results nothing uses, and constants nothing reads.
/// Every Ember op is free of side effects, so an unused result is dead.
public struct DeadCodeElimination: Pass {
    public static let name = "dead-code"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        var uses = graph.useCounts()
        var dead: Set<Int> = []
        for index in graph.nodes.indices.reversed() {
            let node = graph.nodes[index]
            guard node.outputs.allSatisfy({ uses[$0.index] == 0 }) else { continue }
            dead.insert(index)
            for case let id? in node.inputs { uses[id.index] -= 1 }
        }
        graph.removeNodes(dead)
        let constantsRemoved = graph.removeUnusedConstants()
        return !dead.isEmpty || constantsRemoved
    }
}
