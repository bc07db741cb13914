import EmberCPU
import EmberCUDA
import EmberIR

/// Where one node of an engine runs: the kernel that really runs it, whether that kernel is a
/// reference loop, and why faster kernels did not take it. `ember inspect`, `--require-full` and
/// the C API's `ember_engine_placements` all read it, so they never disagree.
public struct NodePlacement: Sendable, Equatable, Encodable {
    public var node: String
    public var op: String
    /// Who runs it: "onednn", "ember" or "reference" on the CPU backend; "cuda", "view" (no
    /// kernel) or "host" on the CUDA backend; "reference" on the reference backend.
    public var provider: String
    /// The implementation: oneDNN's own name ("brg:avx512_core", "ref:any"), Ember's kernel
    /// ("ember:add"), the CUDA library ("cudnn", "cublaslt", "generated"), followed by the layout
    /// conversions the planner put after the node; nil where it is not known.
    public var implementation: String?
    /// Whether it runs a reference loop (oneDNN's `ref:` kernels, Ember's reference evaluation):
    /// correct, but tens to thousands of times slower than an optimized kernel.
    public var reference: Bool
    /// Whether a CUDA engine runs it on the host instead of the GPU.
    public var host: Bool
    /// Each faster provider that declined the node, with its reason ("onednn: ...").
    public var declined: [String]

    /// A placement as a backend reports it.
    public init(
        node: String, op: String, provider: String, implementation: String? = nil, reference: Bool = false,
        host: Bool = false, declined: [String] = []
    ) {
        self.node = node
        self.op = op
        self.provider = provider
        self.implementation = implementation
        self.reference = reference
        self.host = host
        self.declined = declined
    }

    /// Why the node runs somewhere slow (a reference kernel, the host of a CUDA engine); nil when
    /// it runs on an optimized kernel of its backend.
    public var fallback: String? {
        var why: String
        if host {
            why = "runs on the host, not the GPU"
        } else if reference {
            why = "runs a reference kernel" + (implementation.map { " (\($0))" } ?? "")
        } else {
            return nil
        }
        if !declined.isEmpty { why += ": " + declined.joined(separator: "; ") }
        return why
    }

    /// Every node of a CPU program, for inputs of `inputShapes` (graph input order). The
    /// implementations come from the kernels themselves; where shapes depend on data they are
    /// unknown, and a node counts as reference when the reference kernels run it.
    public static func cpu(_ program: CPUProgram, inputShapes: [[Int]]) -> [NodePlacement] {
        let graph = program.graph
        var placements = zip(graph.nodes, program.partition.assignments).map { node, a in
            NodePlacement(
                node: node.name, op: node.op.name, provider: a.providerName, reference: a.providerName == "reference",
                declined: a.declined.map { "\($0.provider): \($0.reason)" })
        }
        if let implementations = try? program.implementations(for: inputShapes), implementations.count == placements.count {
            for (i, placed) in implementations.enumerated() {
                placements[i].implementation = ([placed.node] + placed.conversions.map { KernelImplementation("then \($0.name)") })
                    .map(\.name).joined(separator: ", ")
                placements[i].reference = placed.node.isReference
            }
        }
        return placements
    }

    /// Every node of `graph` as a CUDA engine builds it for these input shapes (by name), decided
    /// from shapes alone, without a device.
    public static func cuda(_ graph: Graph, inputs shapes: [String: [Int]], hostOps: Set<String>) throws -> [NodePlacement] {
        let specialized = try CUDAProgram.specialized(graph, inputs: shapes)
        let placed = CUDAGraphExecutor.placements(specialized, hostOps: hostOps)
        let libraries = CUDAGraphExecutor.libraries(specialized, hostOps: hostOps)
        return specialized.nodes.indices.map { i in
            let node = specialized.nodes[i]
            return NodePlacement(
                node: node.name, op: node.op.name, provider: placed[i].placement, implementation: libraries[i],
                host: placed[i].placement == "host", declined: placed[i].reason.map { ["cuda: \($0)"] } ?? [])
        }
    }

    /// Throws, naming every node that runs somewhere slow and why, unless all of `placements`
    /// run on optimized kernels of `backend`: what `--require-full` asks for.
    public static func requireFull(_ placements: [NodePlacement], backend: Engine.Backend) throws {
        if backend == .reference {
            throw EmberError(.unsupported, "full compilation refused: the reference backend runs every node on reference kernels")
        }
        let slow = placements.compactMap { p in p.fallback.map { "'\(p.node)' (\(p.op)) \($0)" } }
        guard slow.isEmpty else {
            throw EmberError(
                .unsupported,
                "full compilation refused: not every node runs on an optimized \(backend.rawValue) kernel "
                    + "(\(slow.count) of \(placements.count) do not):\n  " + slow.joined(separator: "\n  "))
        }
    }
}

extension Engine {
    /// Where each node runs for inputs of `inputShapes` (graph input order; symbolic dims taken as
    /// 1 where not given).
    public func placements(for inputShapes: [[Int]]? = nil) throws -> [NodePlacement] {
        let shapes = inputShapes ?? graph.inputs.map { (graph.type(of: $0).shape ?? []).map { $0.value ?? 1 } }
        guard shapes.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) input shapes, received \(shapes.count)")
        }
        // Shapes the engine does not take would name no kernel at all.
        var byName: [String: (dtype: DType, shape: [Int])] = [:]
        for (id, shape) in zip(graph.inputs, shapes) { byName[graph.name(of: id)] = (graph.type(of: id).dtype, shape) }
        try graph.checkInputs(shapes: byName)
        switch backend {
        case .reference:
            return graph.nodes.map {
                NodePlacement(node: $0.name, op: $0.op.name, provider: "reference", implementation: "reference", reference: true)
            }
        case .cpu:
            guard let program else { throw EmberError(.internalError, "a CPU engine without its program") }
            return NodePlacement.cpu(program, inputShapes: shapes)
        case .cuda:
            var named: [String: [Int]] = [:]
            for (id, shape) in zip(graph.inputs, shapes) { named[graph.name(of: id)] = shape }
            return try NodePlacement.cuda(graph, inputs: named, hostOps: fallbackOps)
        }
    }
}
