/// The graph invariants every stage relies on, checked with messages that name the node.
extension Graph {
    /// Throws the first broken invariant: SSA (each value defined once, before its uses),
    /// unique names, op arities, declared types agreeing with inference, outputs defined.
    public func verify() throws {
        var defined = [Bool](repeating: false, count: values.count)
        var names: Set<String> = []
        for value in values {
            guard names.insert(value.name).inserted else {
                throw EmberError(.invalidIR, "value name '\(value.name)' is defined more than once")
            }
            // Known dims must be sizes every later product can be computed with.
            if let shape = value.type.shape {
                _ = try TensorSize.elementCount(shape.compactMap(\.value), of: "value '\(value.name)'")
            }
        }
        func define(_ id: ValueID, _ what: String) throws {
            guard id.index >= 0, id.index < values.count else {
                throw EmberError(.invalidIR, "\(what) refers to value \(id) outside the graph")
            }
            guard !defined[id.index] else {
                throw EmberError(.invalidIR, "\(what) redefines %\(name(of: id))")
            }
            defined[id.index] = true
        }
        for id in inputs { try define(id, "graph input") }
        for id in heldConstants.sorted() {
            try define(id, "constant")
            guard constants[id] == nil else { throw EmberError(.invalidIR, "constant %\(name(of: id)) is both held and stored") }
        }
        for id in constantIDs {
            try define(id, "constant")
            guard let t = constants[id], TensorType(t.dtype, known: t.shape) == type(of: id) else {
                throw EmberError(.invalidIR, "constant %\(name(of: id)) does not match its declared type \(type(of: id))")
            }
        }
        for node in nodes {
            let op = Swift.type(of: node.op)
            guard op.inputArity.contains(node.inputs.count) else {
                throw EmberError(
                    .invalidIR, "has \(node.inputs.count) inputs, expected \(op.inputArity)", at: node.location)
            }
            guard op.outputArity.contains(node.outputs.count) else {
                throw EmberError(
                    .invalidIR, "has \(node.outputs.count) outputs, expected \(op.outputArity)", at: node.location)
            }
            for case let input? in node.inputs {
                guard input.index >= 0, input.index < values.count, defined[input.index] else {
                    throw EmberError(.invalidIR, "uses a value before it is defined", at: node.location)
                }
            }
            let inferred: [TensorType]
            do {
                inferred = try node.op.inferTypes(
                    OpInputs(
                        op.name, types: node.inputs.map { $0.map(type(of:)) },
                        constants: node.inputs.map { $0.flatMap { constants[$0] } }),
                    outputCount: node.outputs.count)
            } catch let error as EmberError {
                throw error.located(node.location)
            }
            for (id, expected) in zip(node.outputs, inferred) {
                try define(id, node.location)
                let declared = type(of: id)
                guard declared.dtype == expected.dtype, Graph.compatible(declared.shape, expected.shape) else {
                    throw EmberError(
                        .invalidIR, "output %\(name(of: id)) is declared \(declared) but the op produces \(expected)",
                        at: node.location)
                }
            }
        }
        for id in outputs where !(id.index >= 0 && id.index < values.count && defined[id.index]) {
            throw EmberError(.invalidIR, "graph output \(id) is not defined")
        }
    }

    /// Whether a declared shape can hold what inference says; unknown dims and ranks agree with anything.
    static func compatible(_ a: [Dim]?, _ b: [Dim]?) -> Bool {
        guard let a, let b else { return true }
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            if case .known(let p) = x, case .known(let q) = y { return p == q }
            return true
        }
    }
}
