import EmberIR
import EmberOps

/// Runs a whole graph on the device when the CUDA provider supports every node: kernels are
/// built once (convolutions choose their cuDNN plans by timing then), constants (weights)
/// uploaded once, and each run uploads the inputs, queues every node on one stream and downloads
/// the outputs. Every value's type must be fully known.
///
/// Convolutions read and write channels-last tensors; every other kernel row-major ones. A value
/// is stored in the layout its producer writes (graph inputs and constants: row-major); where a
/// node reads it in the other layout, a copy is made once: constants on the host while building,
/// computed values by a layout kernel queued before their first such reader. Outputs are
/// returned row-major.
///
/// This is the seed of the CUDA engine; the partitioner will give it the nodes the provider
/// supports and the CPU the rest.
public final class CUDAGraphExecutor: @unchecked Sendable {  // Used from one thread at a time.
    public let kernels: CUDAKernels
    public let graph: Graph
    private var steps: [Step] = []
    private var buffers: [Slot: CUDABuffer] = [:]
    /// The layout each value's producer writes.
    private var home: [ValueID: CUDALayout] = [:]

    /// A value as stored in one layout.
    private struct Slot: Hashable {
        var value: ValueID
        var layout: CUDALayout
    }

    private enum Step {
        case node(Node, any CUDAOpKernel, inputs: [Slot], outputs: [Slot])
        case layout(CUDAGeneratedOpKernel, from: Slot, to: Slot)
    }

    public init(_ graph: Graph, kernels: CUDAKernels) throws {
        self.graph = graph
        self.kernels = kernels
        for id in graph.inputs + graph.constantIDs { home[id] = .rowMajor }
        // Inputs are uploaded as given, whoever reads them.
        for id in graph.inputs { _ = try allocate(Slot(value: id, layout: .rowMajor)) }
        var refused: [String] = []
        for node in graph.nodes {
            let convolution = CUDAKernelPlan.prefersChannelsLast(node.op)
            func typed(_ id: ValueID) throws -> CUDATensorType {
                let t = try type(id)
                return convolution ? t.with(.channelsLast) : t
            }
            let cudaNode = CUDANode(
                op: node.op, name: node.name, inputs: try node.inputs.map { try $0.map(typed) },
                outputs: try node.outputs.map(typed), constants: node.inputs.map { $0.flatMap { graph.constants[$0] } })
            if case .unsupported(let why) = kernels.support(cudaNode) {
                refused.append("\(node.location): \(why)")
                continue
            }
            let kernel = try kernels.makeKernel(cudaNode)
            var inputs: [Slot] = []
            for (id, t) in zip(node.inputs, cudaNode.inputs) {
                guard let id, let t else { continue }
                inputs.append(try slot(id, t.layout))
            }
            var outputs: [Slot] = []
            for (id, t) in zip(node.outputs, cudaNode.outputs) {
                home[id] = t.layout
                outputs.append(try allocate(Slot(value: id, layout: t.layout)))
            }
            steps.append(.node(node, kernel, inputs: inputs, outputs: outputs))
        }
        guard refused.isEmpty else {
            throw EmberError(.unsupported, "[cuda] the CUDA backend cannot run every node:\n  " + refused.joined(separator: "\n  "))
        }
        for id in graph.outputs { _ = try slot(id, .rowMajor) }
    }

    /// One line per step: each node's kernel and every layout copy, in the order they run.
    public var plan: [String] {
        steps.map { step in
            switch step {
            case .node(let node, let kernel, _, _):
                let how = (kernel as? CUDAConvOpKernel)?.summary ?? "\(Swift.type(of: kernel))"
                return "\(node.location): \(how)"
            case .layout(_, let from, let to):
                return "'\(graph.name(of: from.value))': \(from.layout.rawValue) -> \(to.layout.rawValue)"
            }
        }
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

    /// Queues every step on `stream`, reading the inputs last uploaded.
    public func enqueue(on stream: CUDAStream) throws {
        for step in steps {
            switch step {
            case .node(let node, let kernel, let inputs, let outputs):
                do {
                    try kernel.run(try inputs.map(buffer), try outputs.map(buffer), stream: stream)
                } catch let error as EmberError {
                    throw error.located(node.location)
                }
            case .layout(let kernel, let from, let to):
                try kernel.run([try buffer(from)], [try buffer(to)], stream: stream)
            }
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
    public func capture(on stream: CUDAStream) throws -> CUDAGraph {
        try CUDAGraph(capturing: stream) { try enqueue(on: stream) }
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

    private func type(_ id: ValueID) throws -> CUDATensorType {
        let t = graph.type(of: id)
        guard let shape = t.knownShape else {
            throw EmberError(.unsupported, "[cuda] value '\(graph.name(of: id))' has type \(t); expected known dims")
        }
        return CUDATensorType(t.dtype, shape)
    }

    /// The buffer holding `id` in `layout`, made on first use: a constant is uploaded in that
    /// layout; a computed value gets a layout copy queued now, after its producer.
    private func slot(_ id: ValueID, _ layout: CUDALayout) throws -> Slot {
        let wanted = Slot(value: id, layout: layout)
        if buffers[wanted] != nil { return wanted }
        let t = try type(id)
        if let constant = graph.constants[id] {
            let bytes = layout == .channelsLast ? try CUDAGraphExecutor.channelsLast(constant) : constant.bytes()
            let buffer = try CUDABuffer(kernels.context, bytes: bytes.count)
            try buffer.upload(bytes)
            buffers[wanted] = buffer
            return wanted
        }
        guard let stored = home[id] else {
            throw EmberError(.internalError, "[cuda] '\(graph.name(of: id))' is read before it is written")
        }
        let source = try allocate(Slot(value: id, layout: stored))
        if stored == layout { return source }
        let copy = try kernels.layoutCopy(t.with(stored), to: layout)
        steps.append(.layout(copy, from: source, to: try allocate(wanted)))
        return wanted
    }

    private func allocate(_ slot: Slot) throws -> Slot {
        if buffers[slot] == nil {
            let t = try type(slot.value)
            buffers[slot] = try CUDABuffer(kernels.context, bytes: t.count * t.dtype.byteSize)
        }
        return slot
    }

    private func buffer(_ slot: Slot) throws -> CUDABuffer {
        guard let b = buffers[slot] else {
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
