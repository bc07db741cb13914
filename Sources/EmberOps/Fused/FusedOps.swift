import EmberIR

/// Ops that run several ops as one: elementwise chains and epilogues attached to their producer.
public enum FusedOps {
    public static let all: [any Operator.Type] = [FusedElementwise.self, FusedEpilogue.self]

    /// The steps of a fused op; nil for any other op.
    public static func body(of op: any Operator) -> FusedBody? {
        switch op {
        case let fused as FusedElementwise: fused.body
        case let fused as FusedEpilogue: fused.body
        default: nil
        }
    }

    /// Replaces the fused node at `index` by the nodes of its steps, in order: intermediate results
    /// get back the names they had before fusion (or `OUTPUT.k` where none was kept), the last step
    /// defines the fused node's output value, and each node its recorded model node name.
    /// Returns false, changing nothing, when the node is not fused.
    ///
    ///     var graph = try Graph(parsing: text, registry: .standard)
    ///     try FusedOps.unfuse(nodeAt: 3, in: &graph)
    @discardableResult
    public static func unfuse(nodeAt index: Int, in graph: inout Graph) throws -> Bool {
        guard graph.nodes.indices.contains(index) else { return false }
        let node = graph.nodes[index]
        guard let body = body(of: node.op), let output = node.outputs.first, node.outputs.count == 1 else {
            return false
        }
        var values: [ValueID] = []
        for case let id? in node.inputs { values.append(id) }
        guard values.count == node.inputs.count else {
            throw EmberError(.invalidIR, "a fused node has an absent input", at: node.location)
        }
        let inputs = OpInputs(
            node.op.name, types: values.map { graph.type(of: $0) }, constants: values.map { graph.constants[$0] })
        let types: [TensorType]
        do {
            types = try body.stepTypes(inputs, op: node.op.name)
        } catch let error as EmberError {
            throw error.located(node.location)
        }
        let outputName = graph.name(of: output)
        var results: [ValueID] = []
        var nodes: [Node] = []
        for (k, step) in body.steps.enumerated() {
            let result =
                k == body.steps.count - 1
                ? output : graph.addValue(step.name.isEmpty ? "\(outputName).\(k)" : step.name, types[k])
            let operands: [ValueID?] = step.operands.map { operand in
                switch operand {
                case nil: nil
                case .input(let i)?: values[i]
                case .step(let j)?: results[j]
                }
            }
            results.append(result)
            nodes.append(Node(name: step.location, op: step.op, inputs: operands, outputs: [result]))
        }
        graph.nodes.replaceSubrange(index...index, with: nodes)
        return true
    }
}
