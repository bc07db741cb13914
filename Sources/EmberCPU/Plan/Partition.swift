import EmberIR
import EmberOps

/// Which kernel provider runs each node of a graph, and why the ones preferred over it do not.
///
/// Providers are asked in order of preference; the first that supports a node gets it. The last
/// provider should support everything (the reference kernels), so every node gets one.
public struct Partition: Sendable {
    /// One node's placement.
    public struct Assignment: Sendable {
        /// Index into the providers the partition was made with.
        public var provider: Int
        public var providerName: String
        /// Each preferred provider that declined the node, with its reason.
        public var declined: [(provider: String, reason: String)]
    }

    /// One per graph node, in node order.
    public var assignments: [Assignment]

    /// Places every node of `graph`. Nodes whose op is in `fallbackOps` go to the last provider.
    public init(_ graph: Graph, providers: [any CPUKernelProvider], fallbackOps: Set<String> = []) throws {
        guard let last = providers.indices.last else {
            throw EmberError(.internalError, "the CPU backend has no kernel providers")
        }
        assignments = try graph.nodes.map {
            try Self.assignment(of: $0, in: graph, providers: providers, last: last, fallbackOps: fallbackOps)
        }
    }

    /// The placement of one node: the first provider that supports it.
    private static func assignment(
        of node: Node, in graph: Graph, providers: [any CPUKernelProvider], last: Int, fallbackOps: Set<String>
    ) throws -> Assignment {
        let kernelNode = KernelNode(node, in: graph)
        if fallbackOps.contains(node.op.name) {
            return Assignment(
                provider: last, providerName: providers[last].name,
                declined: providers.dropLast().map { ($0.name, "\(node.op.name) is listed as a fallback op") })
        }
        var declined: [(provider: String, reason: String)] = []
        for (index, provider) in providers.enumerated() {
            switch provider.support(kernelNode) {
            case .supported:
                return Assignment(provider: index, providerName: provider.name, declined: declined)
            case .unsupported(let reason):
                declined.append((provider.name, reason))
            }
        }
        throw EmberError(
            .unsupported,
            "no CPU kernel runs \(node.location): "
                + declined.map { "\($0.provider): \($0.reason)" }.joined(separator: "; "))
    }

    /// Places every node of `graph` as `init` does, after taking apart each fused node that only
    /// the last provider (the reference kernels) would run when some of its ops get a faster one:
    /// the ops it was made of then each get their best kernel (a matrix product oneDNN runs, an epilogue Ember's elementwise kernels
    /// run) instead of one slow loop over them all. The graph is left as the partition places it.
    public static func placing(
        _ graph: inout Graph, providers: [any CPUKernelProvider], fallbackOps: Set<String> = []
    ) throws -> Partition {
        var partition = try Partition(graph, providers: providers, fallbackOps: fallbackOps)
        let last = providers.count - 1
        for index in graph.nodes.indices.reversed()
        where partition.assignments[index].provider == last && !fallbackOps.contains(graph.nodes[index].op.name) {
            var unfused = graph
            guard try FusedOps.unfuse(nodeAt: index, in: &unfused) else { continue }
            // Only the nodes the fused one became are placed again; where none of them gets a
            // faster provider (a bf16 epilogue), the fused node stays, one loop rather than several.
            let made = index..<(index + unfused.nodes.count - graph.nodes.count + 1)
            let placed = try made.map {
                try assignment(of: unfused.nodes[$0], in: unfused, providers: providers, last: last, fallbackOps: fallbackOps)
            }
            guard placed.contains(where: { $0.provider != last }) else { continue }
            graph = unfused
            partition.assignments.replaceSubrange(index...index, with: placed)
        }
        return partition
    }

    /// Nodes per provider name, for summaries.
    public var counts: [(provider: String, nodes: Int)] {
        var counts: [String: Int] = [:]
        var order: [String] = []
        for a in assignments {
            if counts[a.providerName] == nil { order.append(a.providerName) }
            counts[a.providerName, default: 0] += 1
        }
        return order.map { ($0, counts[$0]!) }
    }
}

extension KernelNode {
    /// The node as a provider sees it, with every input and output `.plain`.
    init(_ node: Node, in graph: Graph) {
        self.init(
            op: node.op, name: node.name,
            inputTypes: node.inputs.map { $0.map(graph.type(of:)) },
            outputTypes: node.outputs.map(graph.type(of:)),
            constants: node.inputs.map { $0.flatMap { graph.constants[$0] } })
    }
}
