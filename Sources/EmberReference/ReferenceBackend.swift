import EmberIR
import EmberOps
import Foundation

/// Runs a graph with each operator's reference evaluation: slow, obviously correct, always there.
///
///     let outputs = try ReferenceBackend().run(graph, inputs: ["x": x])
public struct ReferenceBackend: Sendable {
    public init() {}

    /// The graph's outputs, in order, for inputs given by name. Inputs are checked against the
    /// graph's declared types first; each value is freed after its last use.
    public func run(_ graph: Graph, inputs: [String: Tensor]) throws -> [(name: String, tensor: Tensor)] {
        try graph.checkInputs(inputs)
        var env = [Tensor?](repeating: nil, count: graph.values.count)
        for id in graph.inputs { env[id.index] = inputs[graph.name(of: id)] }
        for (id, tensor) in graph.constants { env[id.index] = tensor }

        let lifetimes = Liveness.lifetimes(of: graph)
        for (position, node) in graph.nodes.enumerated() {
            let args = node.inputs.map { $0.flatMap { env[$0.index] } }
            let results: [Tensor]
            do {
                try checkOutputSizes(node, args)
                results = try node.op.evaluate(args, outputCount: node.outputs.count)
            } catch let error as EmberError {
                throw error.located(node.location)
            }
            guard results.count >= node.outputs.count else {
                throw EmberError(.internalError, "produced \(results.count) outputs, expected \(node.outputs.count)", at: node.location)
            }
            for (id, tensor) in zip(node.outputs, results) { env[id.index] = tensor }
            for case let id? in node.inputs where lifetimes[id.index]?.last == position && graph.constants[id] == nil {
                env[id.index] = nil
            }
        }
        return try graph.outputs.map { id in
            guard let t = env[id.index] else {
                throw EmberError(.internalError, "output '\(graph.name(of: id))' was not computed")
            }
            return (graph.name(of: id), t)
        }
    }

    /// Refuses a node whose outputs, inferred from the concrete inputs, would not fit in memory,
    /// so a damaged or hostile model gets an error instead of an out-of-memory kill.
    func checkOutputSizes(_ node: Node, _ args: [Tensor?]) throws {
        let inputs = OpInputs(node.op.name, types: args.map { $0?.type }, constants: args)
        for type in try node.op.inferTypes(inputs, outputCount: node.outputs.count) {
            guard let dims = type.shape else { continue }
            let known = dims.compactMap(\.value)
            guard known.count == dims.count else { continue }
            let what = "[\(node.op.name)] output of shape \(known) (\(type.dtype))"
            try MemoryLimit.check(try TensorSize.byteCount(known, type.dtype, of: what), for: what)
        }
    }
}
