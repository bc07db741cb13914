import EmberIR
import EmberOps

/// A part of a graph the CUDA provider does not run, run on the host instead: its inputs and
/// outputs are host tensors in the order of the part's graph inputs and outputs.
public protocol CUDAHostSegment: Sendable {
    func run(_ inputs: [Tensor]) throws -> [Tensor]
}

/// Runs a graph with fully known shapes on the device: kernels are built once (convolutions and
/// products choose their plans by timing then), constants (weights) uploaded once, and every run
/// queues each step on one stream.
///
/// - Placement: each node runs on the device when the CUDA provider supports it and its op is
///   not forced off; the rest run on the host in segments of consecutive nodes, with transfers at
///   their edges. Reshapes and their kin are views: no kernel, no copy.
/// - Layouts: convolutions and pools read and write channels-last tensors, every other kernel
///   row-major ones. A value is stored in the layout its producer writes (inputs and constants:
///   row-major); where a node reads it in the other layout, a copy is made once: constants on the
///   host while building, computed values by a layout kernel queued before their first such reader.
/// - Memory: every computed value lives in one device arena, placed by its lifetime in the step
///   list, so values that are never alive at once share bytes.
///
///     let executor = try CUDAGraphExecutor(graph, kernels: kernels)
///     let outputs = try executor.run(["x": x], stream: stream)
public final class CUDAGraphExecutor: @unchecked Sendable {  // Used from one thread at a time.
    public let kernels: CUDAKernels
    public let graph: Graph
    private var steps: [Step] = []
    /// Where each value is stored, per layout it is read in.
    private var storage: [Slot: Int] = [:]
    private var storageBytes: [Int] = []
    private var constants: [Slot: CUDABuffer] = [:]
    private var buffers: [Slot: CUDABuffer] = [:]
    /// The one allocation computed values live in.
    public private(set) var arena: CUDABuffer?
    /// The layout each value's producer writes.
    private var home: [ValueID: CUDALayout] = [:]
    /// Values that are strided views of another value, copied only where something reads them.
    private var strided: [ValueID: CUDAStridedView] = [:]

    /// A value as stored in one layout.
    private struct Slot: Hashable {
        var value: ValueID
        var layout: CUDALayout
    }

    private enum Step {
        case node(Node, any CUDAOpKernel, inputs: [Slot], outputs: [Slot])
        case layout(CUDAGeneratedOpKernel, from: Slot, to: Slot)
        /// A chain of transposes, gathers and reshapes, as one strided copy.
        case copy(CUDAGeneratedOpKernel, from: Slot, to: Slot)
        case host(any CUDAHostSegment, nodes: [Node], inputs: [Slot], outputs: [Slot])
    }

    /// Builds every step. Nodes whose op is in `hostOps`, or that the provider does not run, go to
    /// the host segments `host` builds from a graph of those nodes; without `host`, such a node is
    /// an error naming each of them.
    public init(
        _ graph: Graph, kernels: CUDAKernels, hostOps: Set<String> = [],
        host: ((Graph) throws -> any CUDAHostSegment)? = nil
    ) throws {
        self.graph = graph
        self.kernels = kernels
        for id in graph.inputs + graph.constantIDs { home[id] = .rowMajor }
        for id in graph.inputs { storage[Slot(value: id, layout: .rowMajor)] = newStorage(id) }
        let lifetimes = Liveness.lifetimes(of: graph)
        var pending: [Int] = []
        var refused: [String] = []
        for (index, node) in graph.nodes.enumerated() {
            let producedOnHost = { (id: ValueID) in pending.contains { graph.nodes[$0].outputs.contains(id) } }
            if !hostOps.contains(node.op.name), let parts = splitViews(node), !producedOnHost(parts[0].source) {
                for (id, part) in zip(node.outputs, parts) { strided[id] = part }
                continue
            }
            if !hostOps.contains(node.op.name), let composed = try composedView(node), !producedOnHost(composed.source) {
                if composed.isWholeSource {
                    try view(node, of: composed.source)
                } else {
                    strided[node.outputs[0]] = composed
                }
                continue
            }
            if CUDAGraphExecutor.isView(node.op), node.outputs.count == 1, let source = node.inputs.first ?? nil {
                if pending.contains(where: { graph.nodes[$0].outputs.contains(source) }) {
                    pending.append(index)
                } else {
                    try view(node, of: source)
                }
                continue
            }
            let cudaNode = try CUDAGraphExecutor.cudaNode(node, graph)
            var why: String?
            if hostOps.contains(node.op.name) {
                why = "'\(node.op.name)' is set to run on the host"
            } else if case .unsupported(let reason) = kernels.support(cudaNode) {
                why = reason
            }
            if let why {
                if host == nil { refused.append("\(node.location): \(why)") }
                pending.append(index)
                continue
            }
            if let host, !pending.isEmpty {
                try hostSegment(pending, lifetimes: lifetimes, host)
                pending = []
            }
            try deviceNode(node, cudaNode)
        }
        if let host, !pending.isEmpty { try hostSegment(pending, lifetimes: lifetimes, host) }
        guard refused.isEmpty else {
            throw EmberError(.unsupported, "[cuda] the CUDA backend cannot run every node:\n  " + refused.joined(separator: "\n  "))
        }
        for id in graph.outputs { _ = try slot(id, .rowMajor) }
        try allocate()
    }

    /// Where each node of `graph` (every shape known) would run, decided from shapes alone,
    /// without a device: "cuda", "view" (no kernel), or "host" with the reason.
    public static func placements(_ graph: Graph, hostOps: Set<String> = []) -> [(placement: String, reason: String?)] {
        graph.nodes.map { node in
            if isView(node.op) || node.op is Split { return ("view", nil) }  // a split's parts are strided views
            if hostOps.contains(node.op.name) { return ("host", "'\(node.op.name)' is set to run on the host") }
            do {
                if case .failure(let why) = CUDAKernelPlan.plan(try cudaNode(node, graph), multiprocessors: 132) {
                    return ("host", why.message)
                }
                return ("cuda", nil)
            } catch {
                return ("host", "\(error)")
            }
        }
    }

    /// For each node of `graph` that `placements` puts on the device, the library that runs it:
    /// "generated" (CUDA C++ that Ember writes), "cublaslt" or "cudnn"; nil for the others.
    public static func libraries(_ graph: Graph, hostOps: Set<String> = []) -> [String?] {
        zip(graph.nodes, placements(graph, hostOps: hostOps)).map { node, placed in
            guard placed.placement == "cuda", let cuda = try? cudaNode(node, graph),
                case .success(let plan) = CUDAKernelPlan.plan(cuda, multiprocessors: 132)
            else { return nil }
            switch plan {
            case .generated: return "generated"
            case .matmul, .matmulThen: return "cublaslt"
            case .conv: return "cudnn"
            }
        }
    }

    /// Ops that only reinterpret their input's row-major bytes.
    static func isView(_ op: any Operator) -> Bool { op.traits.contains(.view) }

    /// What the provider sees of `node`: its types, channels-last where the op prefers it.
    static func cudaNode(_ node: Node, _ graph: Graph) throws -> CUDANode {
        let channelsLast = CUDAKernelPlan.prefersChannelsLast(node.op)
        func typed(_ id: ValueID) throws -> CUDATensorType {
            let t = try type(id, graph)
            return channelsLast ? t.with(.channelsLast) : t
        }
        return CUDANode(
            op: node.op, name: node.name, inputs: try node.inputs.map { try $0.map(typed) },
            outputs: try node.outputs.map(typed), constants: node.inputs.map { $0.flatMap { graph.constants[$0] } })
    }

    private func deviceNode(_ node: Node, _ cudaNode: CUDANode) throws {
        let kernel = try kernels.makeKernel(cudaNode)
        var inputs: [Slot] = []
        for (id, t) in zip(node.inputs, cudaNode.inputs) {
            guard let id, let t else { continue }
            inputs.append(try slot(id, t.layout))
        }
        var outputs: [Slot] = []
        for (id, t) in zip(node.outputs, cudaNode.outputs) {
            let layout = canonical(t.layout, try type(id))
            home[id] = layout
            outputs.append(define(Slot(value: id, layout: layout)))
        }
        steps.append(.node(node, kernel, inputs: inputs, outputs: outputs))
    }

    /// `node`'s output as a strided view of an earlier value, when its op only picks elements
    /// (see `CUDAStridedView`); nil otherwise.
    private func composedView(_ node: Node) throws -> CUDAStridedView? {
        guard node.outputs.count == 1, let input = node.inputs.first ?? nil,
            node.op is Transpose || node.op is Gather || CUDAGraphExecutor.isView(node.op),
            let inputShape = graph.type(of: input).knownShape, let outputShape = graph.type(of: node.outputs[0]).knownShape,
            graph.type(of: input).dtype == graph.type(of: node.outputs[0]).dtype
        else { return nil }
        let base = strided[input] ?? CUDAStridedView(source: input, shape: inputShape)
        return base.through(node.op, constants: node.inputs.map { $0.flatMap { graph.constants[$0] } }, output: outputShape)
    }

    /// A split's outputs as strided views of its input, one part each along the axis (the
    /// parts' sizes from their types); nil when the node is not such a split.
    private func splitViews(_ node: Node) -> [CUDAStridedView]? {
        guard let split = node.op as? Split, let input = node.inputs.first ?? nil,
            let inputShape = graph.type(of: input).knownShape, !inputShape.isEmpty
        else { return nil }
        let axis = split.axis < 0 ? split.axis + inputShape.count : split.axis
        guard (0..<inputShape.count).contains(axis) else { return nil }
        let base = strided[input] ?? CUDAStridedView(source: input, shape: inputShape)
        var start = 0
        var parts: [CUDAStridedView] = []
        for id in node.outputs {
            guard let shape = graph.type(of: id).knownShape, shape.count == inputShape.count,
                let part = base.part(axis: axis, start: start, size: shape[axis]), part.shape == shape
            else { return nil }
            parts.append(part)
            start += shape[axis]
        }
        return parts.isEmpty || start != inputShape[axis] ? nil : parts
    }

    /// A view shares its source's row-major bytes.
    private func view(_ node: Node, of source: ValueID) throws {
        let from = try slot(source, .rowMajor)
        let output = node.outputs[0]
        guard let shared = storage[from] else {
            // A constant's view: the same bytes, uploaded for the view's value.
            home[output] = .rowMajor
            constants[Slot(value: output, layout: .rowMajor)] = constants[from]
            return
        }
        home[output] = .rowMajor
        storage[Slot(value: output, layout: .rowMajor)] = shared
    }

    /// Consecutive nodes run on the host: their inputs downloaded, their outputs uploaded.
    private func hostSegment(_ indices: [Int], lifetimes: [Lifetime?], _ build: (Graph) throws -> any CUDAHostSegment) throws {
        let nodes = indices.map { graph.nodes[$0] }
        let produced = Set(nodes.flatMap(\.outputs))
        var reads: [ValueID] = []
        for node in nodes {
            for case let id? in node.inputs where !produced.contains(id) && graph.constants[id] == nil && !reads.contains(id) {
                reads.append(id)
            }
        }
        let end = indices.last ?? 0
        let results = nodes.flatMap(\.outputs).filter { (lifetimes[$0.index]?.last ?? -1) > end }
        var part = graph
        part.nodes = nodes
        part.inputs = reads
        part.outputs = results
        let constantsRead = Set(nodes.flatMap { $0.inputs.compactMap { $0 } })
        part.constants = graph.constants.filter { constantsRead.contains($0.key) }
        let segment: any CUDAHostSegment
        do {
            segment = try build(part)
        } catch let error as EmberError {
            throw error.located("the host part from \(nodes[0].location)")
        }
        let inputs = try reads.map { try slot($0, .rowMajor) }
        let outputs = results.map { id in
            home[id] = .rowMajor
            return define(Slot(value: id, layout: .rowMajor))
        }
        steps.append(.host(segment, nodes: nodes, inputs: inputs, outputs: outputs))
    }

    /// One line per step: each node's kernel, every layout copy and every host part, in order.
    public var plan: [String] {
        steps.map { step in
            switch step {
            case .node(let node, let kernel, _, _):
                let how = (kernel as? CUDAConvOpKernel)?.summary ?? "\(Swift.type(of: kernel))"
                return "\(node.location): \(how)"
            case .layout(_, let from, let to):
                return "'\(graph.name(of: from.value))': \(from.layout.rawValue) -> \(to.layout.rawValue)"
            case .copy(_, let from, let to):
                return "'\(graph.name(of: to.value))': one strided copy of '\(graph.name(of: from.value))'"
            case .host(_, let nodes, let inputs, let outputs):
                return "host: \(nodes.count) nodes from \(nodes[0].location), \(inputs.count) values down, \(outputs.count) up"
            }
        }
    }

    /// Whether some nodes run on the host (a run then waits for the device between parts).
    public var usesHost: Bool {
        steps.contains { if case .host = $0 { true } else { false } }
    }

    /// The nodes that run on the host.
    public var hostNodes: [Node] {
        steps.flatMap { step -> [Node] in if case .host(_, let nodes, _, _) = step { nodes } else { [] } }
    }

    /// The bytes of the arena computed values share.
    public var arenaBytes: Int { arena?.byteCount ?? 0 }

    /// The device buffer of each graph input, in order: copy inputs there before a run.
    public func inputBuffers() throws -> [CUDABuffer] {
        try graph.inputs.map { try buffer(Slot(value: $0, layout: .rowMajor)) }
    }

    /// The device buffer of each graph output, in order, row-major: read outputs there after a run.
    public func outputBuffers() throws -> [CUDABuffer] {
        try graph.outputs.map { try buffer(Slot(value: $0, layout: .rowMajor)) }
    }

    /// Copies `inputs` (by graph input name) to the device.
    public func upload(_ inputs: [String: Tensor]) throws {
        for id in graph.inputs {
            let name = graph.name(of: id)
            guard let tensor = inputs[name] else { throw EmberError(.invalidArgument, "[cuda] missing input '\(name)'") }
            guard tensor.type == graph.type(of: id) else {
                throw EmberError(.typeMismatch, "[cuda] input '\(name)' is \(tensor.type), expected \(graph.type(of: id))")
            }
            try buffer(Slot(value: id, layout: .rowMajor)).upload(tensor.bytes())
        }
    }

    /// Queues every step on `stream`, reading the inputs last uploaded. Host parts wait for the
    /// device, run, and upload their results before the next steps are queued.
    public func enqueue(on stream: CUDAStream) throws {
        for step in steps { try run(step, on: stream) }
    }

    /// Queues one step; a host part waits for the device first and uploads its results.
    private func run(_ step: Step, on stream: CUDAStream) throws {
        switch step {
        case .node(let node, let kernel, let inputs, let outputs):
            do {
                try kernel.run(try inputs.map(buffer), try outputs.map(buffer), stream: stream)
            } catch let error as EmberError {
                throw error.located(node.location)
            }
        case .layout(let kernel, let from, let to), .copy(let kernel, let from, let to):
            try kernel.run([try buffer(from)], [try buffer(to)], stream: stream)
        case .host(let segment, let nodes, let inputs, let outputs):
            try stream.synchronize()
            let tensors = try inputs.map { slot in
                let t = try type(slot.value)
                return try buffer(slot).tensor(t.dtype, shape: t.shape)
            }
            let results = try segment.run(tensors)
            guard results.count == outputs.count else {
                throw EmberError(
                    .internalError, "[cuda] the host part from \(nodes[0].location) returned \(results.count) of \(outputs.count) outputs")
            }
            for (slot, tensor) in zip(outputs, results) { try buffer(slot).upload(tensor.bytes()) }
        }
    }

    /// The device milliseconds of each step, run one at a time on `stream` (median of
    /// `iterations` runs after a warm-up run), with what the step is, in step order.
    public func profile(on stream: CUDAStream, iterations: Int = 10) throws -> [(step: String, kind: String, ms: Double)] {
        try enqueue(on: stream)
        try stream.synchronize()
        let start = try CUDAEvent(kernels.context), end = try CUDAEvent(kernels.context)
        var samples = [[Double]](repeating: [], count: steps.count)
        for _ in 0..<max(iterations, 1) {
            for (index, step) in steps.enumerated() {
                if case .host = step { continue }  // host parts are the CPU backend's to profile
                try start.record(stream)
                try run(step, on: stream)
                try end.record(stream)
                samples[index].append(try end.milliseconds(since: start))
            }
        }
        return zip(plan, zip(steps, samples)).map { line, pair in
            let kind: String
            switch pair.0 {
            case .node(let node, let kernel, _, _):
                kind = "\(node.op.name) (\(Swift.type(of: kernel)))"
            case .layout: kind = "layout copy"
            case .copy: kind = "strided copy"
            case .host: kind = "host"
            }
            let sorted = pair.1.sorted()
            return (line, kind, sorted.isEmpty ? 0 : sorted[sorted.count / 2])
        }
    }

    /// Times cuBLASLt's candidates for every product on the buffers, keeping the fastest.
    /// (Convolutions chose their plans when they were built.)
    public func tune(on stream: CUDAStream) throws {
        for case .node(_, let kernel, let inputs, let outputs) in steps {
            guard let matmul = kernel as? CUDAMatmulOpKernel else { continue }
            try matmul.tune(try inputs.map(buffer), try outputs.map(buffer), stream: stream)
        }
    }

    /// Records every step as one CUDA graph, replayed with `CUDAGraph.launch`; it reads the
    /// inputs last uploaded when it runs. Tune before capturing: the algorithms are fixed then.
    /// Not for plans with host parts.
    public func capture(on stream: CUDAStream) throws -> CUDAGraph {
        guard !usesHost else { throw EmberError(.internalError, "[cuda] a plan with host parts cannot be one CUDA graph") }
        return try CUDAGraph(capturing: stream) { try enqueue(on: stream) }
    }

    /// The outputs the last run left on the device, by name.
    public func outputs() throws -> [(name: String, tensor: Tensor)] {
        try graph.outputs.map { id in
            let t = try type(id)
            return (graph.name(of: id), try buffer(Slot(value: id, layout: .rowMajor)).tensor(t.dtype, shape: t.shape))
        }
    }

    /// Runs the graph on `inputs` and returns its outputs by name.
    public func run(_ inputs: [String: Tensor], stream: CUDAStream) throws -> [(name: String, tensor: Tensor)] {
        try upload(inputs)
        try enqueue(on: stream)
        try stream.synchronize()
        return try outputs()
    }

    // MARK: Values and their memory

    private func type(_ id: ValueID) throws -> CUDATensorType { try CUDAGraphExecutor.type(id, graph) }

    static func type(_ id: ValueID, _ graph: Graph) throws -> CUDATensorType {
        let t = graph.type(of: id)
        guard let shape = t.knownShape else {
            throw EmberError(.unsupported, "[cuda] value '\(graph.name(of: id))' has type \(t); expected known dims")
        }
        return CUDATensorType(t.dtype, shape)
    }

    /// A 4-D tensor whose channels or whose image is one element lies the same in both layouts:
    /// it is stored once, as row-major.
    private func canonical(_ layout: CUDALayout, _ t: CUDATensorType) -> CUDALayout {
        guard layout == .channelsLast, t.shape.count == 4 else { return .rowMajor }
        return t.shape[1] == 1 || t.shape[2] * t.shape[3] == 1 ? .rowMajor : .channelsLast
    }

    private func newStorage(_ id: ValueID) -> Int {
        let t = graph.type(of: id)
        storageBytes.append((t.knownShape?.reduce(1, *) ?? 0) * t.dtype.byteSize)
        return storageBytes.count - 1
    }

    private func define(_ slot: Slot) -> Slot {
        if storage[slot] == nil { storage[slot] = newStorage(slot.value) }
        return slot
    }

    /// `id` as stored in `layout`, made on first use: a constant is uploaded in that layout; a
    /// computed value gets a layout copy queued now, after its producer.
    private func slot(_ id: ValueID, _ wanted: CUDALayout) throws -> Slot {
        let t = try type(id)
        let layout = canonical(wanted, t)
        let slot = Slot(value: id, layout: layout)
        if storage[slot] != nil || constants[slot] != nil { return slot }
        if let constant = graph.constants[id] {
            let bytes = layout == .channelsLast ? try CUDAGraphExecutor.channelsLast(constant) : constant.bytes()
            let buffer = try CUDABuffer(kernels.context, bytes: bytes.count)
            try buffer.upload(bytes)
            constants[slot] = buffer
            return slot
        }
        if home[id] == nil, let view = strided[id] {
            // The first reader of a strided view: one copy from its source, row-major.
            let from = try self.slot(view.source, .rowMajor)
            let kernel = view.copyKernel(bytes: t.dtype.byteSize, multiprocessors: kernels.context.device.multiprocessorCount)
            let copy = CUDAGeneratedOpKernel(function: try kernels.compiler.function(kernel), kernel: kernel)
            home[id] = .rowMajor
            steps.append(.copy(copy, from: from, to: define(Slot(value: id, layout: .rowMajor))))
            if layout == .rowMajor { return slot }
        }
        guard let stored = home[id] else {
            throw EmberError(.internalError, "[cuda] '\(graph.name(of: id))' is read before it is written")
        }
        let source = Slot(value: id, layout: stored)
        let copy = try kernels.layoutCopy(t.with(stored), to: layout)
        steps.append(.layout(copy, from: source, to: define(slot)))
        return slot
    }

    /// Places every stored value in one arena: values whose lifetimes (from the step that writes
    /// them to the last that reads them; inputs from the start, outputs to the end) overlap get
    /// disjoint bytes, as `ArenaPacker` places them.
    private func allocate() throws {
        let storages = { (slots: [Slot]) in slots.compactMap { self.storage[$0] } }
        let accesses = steps.map { step in
            switch step {
            case .node(_, _, let inputs, let outputs), .host(_, _, let inputs, let outputs):
                StepAccess(reads: storages(inputs), writes: storages(outputs))
            case .layout(_, let from, let to), .copy(_, let from, let to):
                StepAccess(reads: storages([from]), writes: storages([to]))
            }
        }
        let lifetimes = Liveness.lifetimes(
            count: storageBytes.count, steps: accesses,
            inputs: storages(graph.inputs.map { Slot(value: $0, layout: .rowMajor) }),
            outputs: storages(graph.outputs.map { Slot(value: $0, layout: .rowMajor) }))
        let live = lifetimes.enumerated().compactMap { s, lifetime in lifetime.map { (storage: s, lifetime: $0) } }
        let packed = ArenaPacker.pack(
            live.map { ArenaRequest(bytes: max(storageBytes[$0.storage], 1), lifetime: $0.lifetime) }, alignment: 256)
        var offsets = [Int](repeating: 0, count: storageBytes.count)
        for (s, offset) in zip(live, packed.offsets) { offsets[s.storage] = offset }
        let total = packed.size
        let arena = try CUDABuffer(kernels.context, bytes: total)
        for (slot, s) in storage where lifetimes[s] != nil {
            buffers[slot] = try CUDABuffer(part: arena, offset: offsets[s], bytes: storageBytes[s])
        }
        self.arena = arena
    }

    private func buffer(_ slot: Slot) throws -> CUDABuffer {
        guard let b = buffers[slot] ?? constants[slot] else {
            throw EmberError(.internalError, "[cuda] no \(slot.layout.rawValue) buffer for '\(graph.name(of: slot.value))'")
        }
        return b
    }

    /// A 4-D tensor's bytes in channels-last order ([N, C, H, W] stored as [N, H, W, C]).
    public static func channelsLast(_ tensor: Tensor) throws -> [UInt8] {
        try permuted(tensor.bytes(), tensor.shape, size: tensor.dtype.byteSize, toChannelsLast: true)
    }

    /// A channels-last buffer's bytes as the row-major tensor of `dtype` and (NCHW) `shape`.
    public static func rowMajor(_ bytes: [UInt8], _ dtype: DType, shape: [Int]) throws -> Tensor {
        try Tensor(dtype, shape: shape, bytes: permuted(bytes, shape, size: dtype.byteSize, toChannelsLast: false))
    }

    private static func permuted(_ bytes: [UInt8], _ shape: [Int], size: Int, toChannelsLast: Bool) throws -> [UInt8] {
        guard shape.count == 4, bytes.count == shape.reduce(size, *) else {
            throw EmberError(.invalidArgument, "[cuda] a layout change takes a 4-D tensor, given shape \(shape)")
        }
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        var out = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for b in 0..<n {
                    for ch in 0..<c {
                        for y in 0..<h {
                            for x in 0..<w {
                                let rowMajor = ((b * c + ch) * h + y) * w + x
                                let last = ((b * h + y) * w + x) * c + ch
                                let (from, to) = toChannelsLast ? (rowMajor, last) : (last, rowMajor)
                                for k in 0..<size { dst[to * size + k] = src[from * size + k] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
