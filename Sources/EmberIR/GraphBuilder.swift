/// Builds a graph node by node, inferring each node's output types as it goes.
///
///     var b = GraphBuilder()
///     let x = b.input("x", TensorType(.f32, ["batch", 4]))
///     let y = try b.add(Relu(), [x])[0]
///     b.output(y)
///     let graph = try b.finish()
public struct GraphBuilder {
    public private(set) var graph: Graph
    public init(name: String = "main") { graph = Graph(name: name) }

    /// A name not used yet: `preferred` if free, else `preferred` with a numeric suffix.
    public mutating func uniqueName(_ preferred: String?) -> String { graph.uniqueName(preferred) }

    public mutating func input(_ name: String, _ type: TensorType) -> ValueID {
        let id = graph.addValue(name, type)
        graph.inputs.append(id)
        return id
    }

    public mutating func constant(_ tensor: Tensor, name: String? = nil) -> ValueID {
        let id = graph.addValue(name, tensor.type)
        graph.constants[id] = tensor
        return id
    }

    /// A constant of `type` whose elements a backend holds (see `Graph.heldConstants`).
    public mutating func heldConstant(_ type: TensorType, name: String? = nil) -> ValueID {
        let id = graph.addValue(name, type)
        graph.heldConstants.insert(id)
        return id
    }

    /// Appends a node; its outputs' types come from the op's inference, or from `types` when given.
    @discardableResult
    public mutating func add(
        _ op: any Operator, _ inputs: [ValueID?], outputs: Int = 1, names: [String]? = nil,
        nodeName: String = "", types: [TensorType]? = nil
    ) throws -> [ValueID] {
        let inferred = try types ?? inferTypes(op, inputs, outputCount: outputs, location: nodeName)
        guard inferred.count == outputs else {
            throw EmberError(.invalidIR, "[\(op.name)] produced \(inferred.count) output types, expected \(outputs)")
        }
        for type in inferred {
            if let shape = type.shape {
                _ = try TensorSize.elementCount(shape.compactMap(\.value), of: "[\(op.name)] output")
            }
        }
        let ids = inferred.enumerated().map { i, type in
            graph.addValue(names.flatMap { i < $0.count ? $0[i] : nil }, type)
        }
        graph.nodes.append(Node(name: nodeName, op: op, inputs: inputs, outputs: ids))
        return ids
    }

    /// What `op` would produce from `inputs` in the graph built so far.
    public func inferTypes(_ op: any Operator, _ inputs: [ValueID?], outputCount: Int, location: String = "") throws
        -> [TensorType]
    {
        let opInputs = OpInputs(
            op.name, types: inputs.map { $0.map(graph.type(of:)) },
            constants: inputs.map { $0.flatMap { graph.constants[$0] } })
        do {
            return try op.inferTypes(opInputs, outputCount: outputCount)
        } catch let error as EmberError {
            throw location.isEmpty ? error : error.located("node '\(location)' (\(op.name))")
        }
    }

    public mutating func output(_ id: ValueID) { graph.outputs.append(id) }

    /// The graph, verified.
    public func finish() throws -> Graph {
        try graph.verify()
        return graph
    }
}
