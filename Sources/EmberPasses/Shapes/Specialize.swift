import EmberIR

extension Pipeline {
    /// Fixes the shapes of the named inputs and makes every shape in the graph follow from them:
    /// computed values whose types are not fully known are inferred again, and the shape
    /// arithmetic that becomes constant is folded away. Backends that build kernels for exact
    /// shapes (CUDA) run each input shape through this; `ember compile --input` does too.
    ///
    ///     try Pipeline.specialize(&graph, inputs: ["input_ids": [32, 128]])
    public static func specialize(_ graph: inout Graph, inputs shapes: [String: [Int]]) throws {
        let names = Set(graph.inputs.map { graph.name(of: $0) })
        for name in shapes.keys.sorted() where !names.contains(name) {
            throw EmberError(
                .invalidArgument, "the model has no input '\(name)'; its inputs are: \(names.sorted().joined(separator: ", "))")
        }
        for id in graph.inputs {
            let declared = graph.type(of: id)
            guard let shape = shapes[graph.name(of: id)] else { continue }
            if let dims = declared.shape {
                let fits = dims.count == shape.count && zip(dims, shape).allSatisfy { $0.value == nil || $0.value == $1 }
                guard fits, shape.allSatisfy({ $0 >= 0 }) else {
                    throw EmberError(
                        .typeMismatch, "input '\(graph.name(of: id))' is \(declared); the shape \(shape) does not fit it")
                }
            }
            graph.setType(id, TensorType(declared.dtype, known: shape))
        }
        let fixed = Set(graph.inputs) .union(graph.constantIDs)
        for node in graph.nodes {
            for id in node.outputs where !fixed.contains(id) && graph.type(of: id).knownShape == nil {
                graph.setType(id, TensorType(graph.type(of: id).dtype, nil))
            }
        }
        try PassManager(cleanup).run(&graph)
    }
}
