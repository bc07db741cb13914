import EmberCPU
import EmberCUDA
import EmberIR
import EmberPasses
import EmberRuntime

/// The partition section of `ember inspect`: which kernels run each node, and why not faster ones.
struct PartitionReport: Encodable {
    struct Placement: Encodable {
        var node: String
        var op: String
        var kernels: String
        /// The implementation that runs the node (CPU backend; symbolic dims taken as 1), and
        /// whether it is a reference loop.
        var implementation: String? = nil
        var reference: Bool? = nil
        /// Each faster provider that declined the node, with its reason.
        var declined: [Declined]
    }
    struct Declined: Encodable {
        var provider: String
        var reason: String
    }

    var backend: String
    /// Nodes per kernel provider, fastest first.
    var summary: [String: Int]
    var nodes: [Placement]
    private var order: [(provider: String, nodes: Int)]
    /// Nodes that run a reference loop, when the kernels were built.
    var referenceCount: Int?

    enum CodingKeys: String, CodingKey { case backend, summary, referenceCount = "reference_kernels", nodes }

    /// The plan for `graph` on `backend`, made without building any kernel.
    init(_ graph: Graph, backend: Engine.Backend, fallbackOps: Set<String>) throws {
        self.backend = backend.rawValue
        switch backend {
        case .reference:
            order = [("reference", graph.nodes.count)]
            nodes = graph.nodes.map { Placement(node: $0.name, op: $0.op.name, kernels: "reference", declined: []) }
        case .cpu:
            var graph = graph  // with the fused nodes the CPU backend takes apart taken apart
            let partition = try Partition.placing(&graph, providers: CPUBackend.providers, fallbackOps: fallbackOps)
            order = partition.counts
            nodes = zip(graph.nodes, partition.assignments).map { node, a in
                Placement(
                    node: node.name, op: node.op.name, kernels: a.providerName,
                    declined: a.declined.map { Declined(provider: $0.provider, reason: $0.reason) })
            }
            // The kernels themselves, built for the input shapes (symbolic dims taken as 1).
            let shapes = graph.inputs.map { (graph.type(of: $0).shape ?? []).map { $0.value ?? 1 } }
            if let program = try? CPUProgram(graph, providers: CPUBackend.providers, fallbackOps: fallbackOps) {
                let placed = NodePlacement.cpu(program, inputShapes: shapes)
                if placed.count == nodes.count, placed.allSatisfy({ $0.implementation != nil }) {
                    for (i, p) in placed.enumerated() {
                        nodes[i].implementation = p.implementation
                        nodes[i].reference = p.reference
                    }
                    referenceCount = placed.filter(\.reference).count
                }
            }
        case .cuda:
            // Kernels are made for exact shapes: symbolic dims are taken as 1 here.
            var shapes: [String: [Int]] = [:]
            for id in graph.inputs {
                shapes[graph.name(of: id)] = (graph.type(of: id).shape ?? []).map { $0.value ?? 1 }
            }
            let specialized = try CUDAProgram.specialized(graph, inputs: shapes)
            let placed = CUDAGraphExecutor.placements(specialized, hostOps: fallbackOps)
            let placements = zip(specialized.nodes, placed).map { node, p in
                Placement(
                    node: node.name, op: node.op.name, kernels: p.placement == "host" ? "cpu" : p.placement,
                    declined: p.reason.map { [Declined(provider: "cuda", reason: $0)] } ?? [])
            }
            nodes = placements
            order = ["cuda", "view", "cpu"].map { kind in (kind, placements.filter { $0.kernels == kind }.count) }.filter { $0.1 > 0 }
        }
        summary = Dictionary(uniqueKeysWithValues: order.map { ($0.provider, $0.nodes) })
    }

    var text: String {
        var out = "partition (\(backend) backend): "
        out += order.map { "\($0.nodes) on \($0.provider)" }.joined(separator: ", ")
        if let referenceCount { out += "; \(referenceCount) on reference kernels" }
        out += "\n"
        let nameWidth = min(40, nodes.map { $0.node.count }.max() ?? 0)
        let opWidth = nodes.map(\.op.count).max() ?? 0
        for placement in nodes {
            var line = "  " + placement.node.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            line += "  " + placement.op.padding(toLength: opWidth, withPad: " ", startingAt: 0)
            line += "  " + placement.kernels
            if let implementation = placement.implementation {
                line += " [\(implementation)]" + (placement.reference == true ? " REFERENCE KERNEL" : "")
            }
            if !placement.declined.isEmpty {
                line += "  (" + placement.declined.map { "\($0.provider): \($0.reason)" }.joined(separator: "; ") + ")"
            }
            out += line + "\n"
        }
        return out
    }
}
