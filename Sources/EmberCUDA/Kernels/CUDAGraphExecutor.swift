import EmberIR
import EmberOps

/// Runs a whole graph on the device when the CUDA provider supports every node: kernels are
/// built once, constants (weights) uploaded once, and each run uploads the inputs, queues every
/// node on one stream and downloads the outputs. Every value's type must be fully known.
///
/// This is the seed of the CUDA engine; the partitioner will give it the nodes the provider
/// supports and the CPU the rest.
public final class CUDAGraphExecutor: @unchecked Sendable {  // Used from one thread at a time.
    public let kernels: CUDAKernels
    public let graph: Graph
    private var steps: [(node: Node, kernel: any CUDAOpKernel)] = []
    private var buffers: [ValueID: CUDABuffer] = [:]

    public init(_ graph: Graph, kernels: CUDAKernels) throws {
        self.graph = graph
        self.kernels = kernels
        let context = kernels.context
        func type(_ id: ValueID) throws -> CUDATensorType {
            let t = graph.type(of: id)
            guard let shape = t.knownShape else {
                throw EmberError(.unsupported, "[cuda] value '\(graph.name(of: id))' has type \(t); expected known dims")
            }
            return CUDATensorType(t.dtype, shape)
        }
        var refused: [String] = []
        for node in graph.nodes {
            let cudaNode = CUDANode(
                op: node.op, name: node.name, inputs: try node.inputs.map { try $0.map(type) },
                outputs: try node.outputs.map(type), constants: node.inputs.map { $0.flatMap { graph.constants[$0] } })
            if case .unsupported(let why) = kernels.support(cudaNode) {
                refused.append("\(node.location): \(why)")
                continue
            }
            steps.append((node, try kernels.makeKernel(cudaNode)))
        }
        guard refused.isEmpty else {
            throw EmberError(.unsupported, "[cuda] the CUDA backend cannot run every node:\n  " + refused.joined(separator: "\n  "))
        }
        for id in graph.constantIDs {
            guard let tensor = graph.constants[id] else { continue }
            buffers[id] = try CUDABuffer(context, tensor: tensor)
        }
        for node in graph.nodes {
            for id in node.outputs {
                let t = try type(id)
                buffers[id] = try CUDABuffer(context, bytes: t.count * t.dtype.byteSize)
            }
        }
        for id in graph.inputs {
            let t = try type(id)
            buffers[id] = try CUDABuffer(context, bytes: t.count * t.dtype.byteSize)
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
            try buffer(id).upload(tensor.bytes())
        }
    }

    /// Queues every node on `stream`, reading the inputs last uploaded.
    public func enqueue(on stream: CUDAStream) throws {
        for (node, kernel) in steps {
            let inputs = try node.inputs.compactMap { $0 }.map(buffer)
            let outputs = try node.outputs.map(buffer)
            do {
                try kernel.run(inputs, outputs, stream: stream)
            } catch let error as EmberError {
                throw error.located(node.location)
            }
        }
    }

    /// Times cuBLASLt's candidates for every product on the buffers, keeping the fastest.
    public func tune(on stream: CUDAStream) throws {
        for (node, kernel) in steps {
            guard let matmul = kernel as? CUDAMatmulOpKernel else { continue }
            try matmul.tune(try node.inputs.compactMap { $0 }.map(buffer), try node.outputs.map(buffer), stream: stream)
        }
    }

    /// Records every node's launch as one CUDA graph, replayed with `CUDAGraph.launch`; it reads
    /// the inputs last uploaded when it runs. Tune before capturing: the algorithms are fixed then.
    public func capture(on stream: CUDAStream) throws -> CUDAGraph {
        try CUDAGraph(capturing: stream) { try enqueue(on: stream) }
    }

    /// The outputs the last run left on the device, by name.
    public func outputs() throws -> [(name: String, tensor: Tensor)] {
        try graph.outputs.map { id in
            let t = graph.type(of: id)
            guard let shape = t.knownShape else { throw EmberError(.unsupported, "[cuda] output type \(t) is not known") }
            return (graph.name(of: id), try buffer(id).tensor(t.dtype, shape: shape))
        }
    }

    /// Runs the graph on `inputs` and returns its outputs by name.
    public func run(_ inputs: [String: Tensor], stream: CUDAStream) throws -> [(name: String, tensor: Tensor)] {
        try upload(inputs)
        try enqueue(on: stream)
        try stream.synchronize()
        return try outputs()
    }

    private func buffer(_ id: ValueID) throws -> CUDABuffer {
        guard let b = buffers[id] else { throw EmberError(.internalError, "[cuda] no buffer for '\(graph.name(of: id))'") }
        return b
    }
}
