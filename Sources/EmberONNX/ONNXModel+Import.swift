import EmberIR
import EmberOps
import Foundation

extension ONNXModel {
    /// Imports the model as an Ember graph. A model with ops Ember does not support fails with one
    /// error that lists every unsupported op type and the nodes that use it.
    public func importGraph() throws -> Graph {
        let missing = unsupported
        if !missing.isEmpty {
            let list = missing.map { "\($0.op) (\(Self.summarize($0.nodes)))" }.joined(separator: ", ")
            throw EmberError(.unsupported, "the model uses ops Ember does not support: \(list)")
        }
        let reader = ONNXTensorReader(directory: directory)
        var builder = GraphBuilder(name: graphProto.name.isEmpty ? "main" : graphProto.name)
        var values: [String: ValueID] = [:]
        // What defined each ONNX value name, so that a second definition is an error naming both:
        // the graph is SSA, and the last definition silently winning would run another model.
        var definers: [String: String] = [:]
        func define(_ name: String, by definer: String) throws {
            if let earlier = definers[name] {
                throw EmberError(.invalidModel, "value '\(name)' is defined twice: by \(earlier) and by \(definer)")
            }
            definers[name] = definer
        }

        for (name, type) in try inputs() {
            try define(name, by: "graph input '\(name)'")
            if let shape = type.shape {
                _ = try TensorSize.elementCount(shape.compactMap(\.value), of: "graph input '\(name)'")
            }
            values[name] = builder.input(name, type)
        }
        for initializer in graphProto.initializer {
            try define(initializer.name, by: "initializer '\(initializer.name)'")
            let tensor = try reader.tensor(initializer, what: "initializer '\(initializer.name)'")
            values[initializer.name] = builder.constant(tensor, name: initializer.name)
        }
        for (index, node) in graphProto.node.enumerated() {
            let name = nodeName(index)
            let location = "node '\(name)' (\(node.opType))"
            for output in node.output where !output.isEmpty { try define(output, by: location) }
            do {
                try importNode(node, name: name, reader: reader, builder: &builder, values: &values)
            } catch let error as EmberError {
                throw error.location == nil || !(error.location ?? "").hasPrefix("node ") ? error.located(location) : error
            }
        }
        for output in graphProto.output {
            guard let id = values[output.name] else {
                throw EmberError(.invalidModel, "graph output '\(output.name)' is not produced by any node")
            }
            // Outputs keep the model's names, even when the value was an alias of another.
            if builder.graph.name(of: id) == output.name {
                builder.output(id)
            } else {
                let identity = try OperatorRegistry.standard.make("identity", Attributes(op: "identity"))
                builder.output(try builder.add(identity, [id], names: [output.name])[0])
            }
        }
        return try builder.finish()
    }

    private func importNode(
        _ node: Onnx_NodeProto, name: String, reader: ONNXTensorReader, builder: inout GraphBuilder,
        values: inout [String: ValueID]
    ) throws {
        let attributes = try Self.attributes(node, reader: reader)
        if node.opType == "Constant" {
            guard node.output.count == 1 else { throw EmberError(.invalidModel, "Constant must have one output") }
            let tensor = try Self.constantValue(attributes)
            values[node.output[0]] = builder.constant(tensor, name: node.output[0])
            return
        }
        let inputs: [ValueID?] = try node.input.map { input in
            if input.isEmpty { return nil }
            guard let id = values[input] else {
                throw EmberError(.invalidModel, "input '\(input)' is not defined before this node (the graph must be topologically sorted)")
            }
            return id
        }
        var outputs = node.output
        while let last = outputs.last, last.isEmpty { outputs.removeLast() }
        guard let converter = ONNXOps.table[node.opType] else {
            throw EmberError(.unsupported, "op \(node.opType) is not supported")
        }
        // The builder moves into the context and back, never copied: a copy that is then appended
        // to would copy the whole graph once per node.
        var context = ONNXNodeContext(
            opType: node.opType, nodeName: name, opset: opset, attributes: attributes, inputs: inputs,
            outputNames: outputs, builder: GraphBuilder())
        swap(&context.builder, &builder)
        defer { swap(&context.builder, &builder) }
        switch converter {
        case .direct(let op):
            try context.emitFinal(context.make(op), context.inputs)
        case .custom(let convert):
            try convert(&context)
        }
        guard let produced = context.emittedOutputs else {
            throw EmberError(.internalError, "the \(node.opType) converter produced no outputs")
        }
        for (output, id) in zip(outputs, produced) where !output.isEmpty {
            values[output] = id
        }
    }

    /// A `Constant` node's value, in any of its attribute forms.
    static func constantValue(_ a: Attributes) throws -> Tensor {
        if let t = try a.tensor("value") { return t }
        if let v = try a.float("value_float") { return Tensor(.f32, shape: [], doubles: [v]) }
        if let v = try a.floats("value_floats") { return Tensor(.f32, shape: [v.count], doubles: v) }
        if let v = try a.int("value_int") { return Tensor(shape: [], int64s: [Int64(v)]) }
        if let v = try a.ints("value_ints") { return Tensor(shape: [v.count], int64s: v.map(Int64.init)) }
        if a["sparse_value"] != nil || a["value_string"] != nil || a["value_strings"] != nil {
            throw EmberError(.unsupported, "[Constant] sparse and string constants are not supported")
        }
        throw EmberError(.invalidModel, "[Constant] has no value attribute")
    }

    /// A node's attributes in Ember form. Graph-valued attributes (If, Loop, Scan) are refused.
    static func attributes(_ node: Onnx_NodeProto, reader: ONNXTensorReader) throws -> Attributes {
        var result = Attributes(op: node.opType)
        for a in node.attribute {
            let value: Attribute
            switch a.type {
            case .float: value = .float(Double(a.f))
            case .int: value = .int(Int(clamping: a.i))
            case .string: value = .string(String(decoding: a.s, as: UTF8.self))
            case .floats: value = .floats(a.floats.map(Double.init))
            case .ints: value = .ints(a.ints.map { Int(clamping: $0) })
            case .strings: value = .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
            case .tensor: value = .tensor(try reader.tensor(a.t, what: "attribute '\(a.name)'"))
            default:
                throw EmberError(.unsupported, "[\(node.opType)] attribute '\(a.name)' of type \(a.type) is not supported")
            }
            guard result[a.name] == nil else {
                throw EmberError(.invalidModel, "[\(node.opType)] attribute '\(a.name)' is given twice")
            }
            result[a.name] = value
        }
        return result
    }

    /// At most five node names, then a count of the rest.
    static func summarize(_ names: [String]) -> String {
        let shown = names.prefix(5).joined(separator: ", ")
        return names.count > 5 ? "\(shown) and \(names.count - 5) more" : shown
    }
}

