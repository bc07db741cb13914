import EmberIR
import EmberOps

/// Stores every f32 tensor of the graph as f16 or bf16: weights are converted once (to the
/// nearest value, large magnitudes clamped to the narrower type's finite range, as PyTorch's
/// `finfo.min` masks are), f32 inputs are cast on the way in and outputs cast back to f32 on
/// the way out, so the engine's interface does not change. Kernels still compute in f32 inside
/// (normalizations, softmax, reductions and the accumulators of products); only what is stored
/// between them narrows. A node whose op insists on an f32 result keeps it, and a cast follows.
///
///     %y = layer_norm(%x, %w, %b) : f32[8,768]   ->   %y = layer_norm(%x, %w, %b) : f16[8,768]
public struct LowerPrecision: Pass {
    public static let name = "lower-precision"
    public let dtype: DType

    public init(_ dtype: DType) throws {
        guard dtype == .f16 || dtype == .bf16 else {
            throw EmberError(.invalidArgument, "precision is lowered to f16 or bf16, not \(dtype)")
        }
        self.dtype = dtype
    }

    public func run(_ graph: inout Graph) throws -> Bool {
        let original = graph
        guard original.values.contains(where: { $0.type.dtype == .f32 }) else { return false }
        let limit = dtype == .f16 ? 65504.0 : 3.3895313892515355e38
        for id in graph.constantIDs {
            guard let t = graph.constants[id], t.dtype == .f32 else { continue }
            let narrowed = Tensor(dtype, shape: t.shape, doubles: t.doubles().map { $0.isNaN ? $0 : min(max($0, -limit), limit) })
            graph.constants[id] = narrowed
            graph.setType(id, TensorType(dtype, graph.type(of: id).shape))
        }
        var nodes: [Node] = []
        for id in graph.inputs where graph.type(of: id).dtype == .f32 {
            let narrow = graph.addValue(graph.name(of: id) + ".\(dtype)", TensorType(dtype, graph.type(of: id).shape))
            graph.replaceAllUses(of: id, with: narrow)
            nodes.append(Node(name: "", op: Cast(to: dtype), inputs: [id], outputs: [narrow]))
        }
        for index in graph.nodes.indices {
            var node = graph.nodes[index]
            node.op = try lowered(node.op)
            let types = node.inputs.map { $0.map { graph.type(of: $0) } }
            let known = node.inputs.map { $0.flatMap { graph.constants[$0] } }
            let inferred = try node.op.inferTypes(OpInputs(node.op.name, types: types, constants: known), outputCount: node.outputs.count)
            var widened: [(ValueID, ValueID)] = []
            for (k, id) in node.outputs.enumerated() {
                let declared = graph.type(of: id)
                let result = k < inferred.count ? inferred[k].dtype : declared.dtype
                if declared.dtype == .f32 && result == .f32 {
                    // The op insists on f32: narrow its result for the readers.
                    widened.append((id, graph.addValue(graph.name(of: id) + ".\(dtype)", TensorType(dtype, declared.shape))))
                } else if declared.dtype == .f32 {
                    graph.setType(id, TensorType(result, declared.shape))
                }
            }
            nodes.append(node)
            for (wide, narrow) in widened {
                replaceReads(of: wide, with: narrow, after: index, in: &graph)
                nodes.append(Node(name: "", op: Cast(to: dtype), inputs: [wide], outputs: [narrow]))
            }
        }
        graph.nodes = nodes
        // Outputs go back to f32 under their own names.
        for (k, id) in graph.outputs.enumerated() where id.index < original.values.count && original.type(of: id).dtype == .f32 && graph.type(of: id).dtype != .f32 {
            let name = graph.name(of: id)
            graph.rename(id, to: graph.uniqueName(name + ".\(dtype)"))
            let wide = graph.addValue(name, TensorType(.f32, graph.type(of: id).shape))
            graph.nodes.append(Node(name: "", op: Cast(to: .f32), inputs: [id], outputs: [wide]))
            graph.outputs[k] = wide
        }
        return true
    }

    /// Reads of `old` by the nodes after `index` become reads of `new`; a graph output stays the
    /// f32 value.
    private func replaceReads(of old: ValueID, with new: ValueID, after index: Int, in graph: inout Graph) {
        for i in graph.nodes.indices where i > index {
            for j in graph.nodes[i].inputs.indices where graph.nodes[i].inputs[j] == old {
                graph.nodes[i].inputs[j] = new
            }
        }
    }

    /// `op` with any cast to f32 made a cast to the lowered type, inside fused bodies too.
    private func lowered(_ op: any Operator) throws -> any Operator {
        switch op {
        case let cast as Cast where cast.to == .f32: return Cast(to: dtype)
        case let fused as FusedElementwise: return try FusedElementwise(lowered(fused.body, op: FusedElementwise.name))
        case let fused as FusedEpilogue: return try FusedEpilogue(lowered(fused.body, op: FusedEpilogue.name))
        default: return op
        }
    }

    private func lowered(_ body: FusedBody, op: String) throws -> FusedBody {
        let steps = try body.steps.map { step in
            FusedBody.Step(op: try lowered(step.op), operands: step.operands, name: step.name, location: step.location)
        }
        return try FusedBody(steps, op: op)
    }
}
