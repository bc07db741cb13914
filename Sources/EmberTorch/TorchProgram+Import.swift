import EmberIR
import EmberOps
import Foundation

extension TorchProgram {
    /// Imports the program as an Ember graph. A program with ATen ops Ember does not support fails
    /// with one error that lists every unsupported op and the nodes that use it.
    public func importGraph() throws -> Graph {
        let missing = unsupported
        if !missing.isEmpty {
            let list = missing.map { "\($0.op) (\(Self.summarize($0.nodes)))" }.joined(separator: ", ")
            throw EmberError(.unsupported, "the program uses ATen ops Ember does not support: \(list)")
        }
        var context = TorchNodeContext(program: self, builder: GraphBuilder(name: "main"))
        for (name, type) in try inputs() {
            context.values[name] = .tensor(context.builder.input(name, type))
        }
        let weights = try payloadConfig("data/weights/\(modelName)_weights_config.json")
        let constants = try payloadConfig("data/constants/\(modelName)_constants_config.json")
        for spec in program.graph_module.signature.input_specs {
            switch spec {
            case .userInput: continue
            case .parameter(let name, let target), .buffer(let name, let target), .tensorConstant(let name, let target):
                let tensor = try loadTensor(target, weights: weights, constants: constants)
                let declared = try type(of: name)
                guard TensorType(tensor.dtype, known: tensor.shape) == declared else {
                    throw EmberError(.invalidModel, "'\(origin)' stores '\(target)' as \(tensor.type) but the graph declares \(declared)")
                }
                context.values[name] = .tensor(context.builder.constant(tensor, name: target))
            case .constantInput(let name, let value):
                switch value {
                case .int(let v): context.values[name] = .symInt(SymValue(dim: .known(v)))
                case .float(let v): context.values[name] = .scalar(v)
                case .none: context.values[name] = TorchValue.none
                default:
                    throw EmberError(.unsupported, "'\(origin)' has a constant input '\(name)' of kind \(Self.describe(value))")
                }
            case .other(let kind):
                throw EmberError(.unsupported, "'\(origin)' has an input of kind '\(kind)'; Ember imports user inputs, parameters, buffers and tensor constants")
            }
        }
        for (index, node) in graph.nodes.enumerated() {
            let name = nodeName(index)
            let target = TorchOps.shortName(node.target)
            guard let convert = TorchOps.converter(target) else {
                throw EmberError(.unsupported, "op \(target) is not supported", at: "node '\(name)' (\(target))")
            }
            context.begin(node, name: name, target: target)
            do {
                try convert(&context)
                try context.recordView()
                try context.applyMutation()
            } catch let error as EmberError {
                throw error.location == nil || !(error.location ?? "").hasPrefix("node ")
                    ? error.located("node '\(name)' (\(target))") : error
            }
        }
        for spec in program.graph_module.signature.output_specs {
            switch spec {
            case .userOutput(.tensor(let name)):
                guard case .tensor(let id)? = context.values[name] else {
                    throw EmberError(.invalidModel, "graph output '\(name)' is not produced by any node")
                }
                if context.builder.graph.name(of: id) == name, !context.builder.graph.inputs.contains(id),
                    context.builder.graph.constants[id] == nil, !context.builder.graph.outputs.contains(id)
                {
                    context.builder.output(id)
                } else {
                    let identity = try OperatorRegistry.standard.make("identity", Attributes(op: "identity"))
                    context.builder.output(try context.builder.add(identity, [id], names: [name])[0])
                }
            case .userOutput(let arg):
                throw EmberError(.unsupported, "'\(origin)' has a user output that is not a tensor (\(Self.describe(arg)))")
            case .other:
                continue  // buffer mutations and the like: state updates, not results
            }
        }
        return try context.builder.finish()
    }

    func payloadConfig(_ path: String) throws -> [String: TorchSchema.PayloadMeta] {
        guard archive.contains(path) else { return [:] }
        return try archive.json(TorchSchema.PayloadConfig.self, path).config
    }

    /// At most five node names, then a count of the rest.
    static func summarize(_ names: [String]) -> String {
        let shown = names.prefix(5).joined(separator: ", ")
        return names.count > 5 ? "\(shown) and \(names.count - 5) more" : shown
    }
}

/// A symbolic int during import: its size as a dim (known, or a symbol such as `s0` or `12*s0`),
/// and where it is not known, the graph value (i64 of shape [1]) that computes it at run time.
struct SymValue {
    var dim: Dim
    var runtime: ValueID? = nil
    // A switch of its own rather than `dim.value`: Swift 6.3.1's optimizer crashes (CopyPropagation) on
    // the inlined `Dim.value` read through a borrowed SymValue in release builds.
    var known: Int? {
        switch dim {
        case .known(let v): v
        case .symbol, .unknown: nil
        }
    }
}

/// What a name in the torch graph stands for.
enum TorchValue {
    case tensor(ValueID)
    case tensors([ValueID])
    case symInt(SymValue)
    case scalar(Double)
    case none
}
