import EmberIR

/// Evaluates nodes whose inputs are all constants with the ops' reference evaluation, and makes
/// their outputs constants under the same names.
///
/// Folding never makes the model much larger: an output over `maxElements` elements is folded only
/// when it is no larger than the node's inputs together (so a transpose of a weight folds, but an
/// `expand` of a scalar to a large tensor stays). Nodes that cannot be evaluated are left as they are.
public struct ConstantFolding: Pass {
    public static let name = "constant-folding"
    /// The largest output folded when it is larger than the inputs.
    public var maxElements: Int
    public init(maxElements: Int = 1 << 20) { self.maxElements = maxElements }

    public func run(_ graph: inout Graph) throws -> Bool {
        var folded: Set<Int> = []
        for index in graph.nodes.indices {
            let node = graph.nodes[index]
            var args: [Tensor?] = []
            var inputElements = 0
            for input in node.inputs {
                guard let id = input else {
                    args.append(nil)
                    continue
                }
                guard let t = graph.constants[id] else { break }
                args.append(t)
                inputElements += t.count
            }
            guard args.count == node.inputs.count, !node.outputs.isEmpty else { continue }
            func fits(_ count: Int) -> Bool { count <= maxElements || count <= inputElements }
            // Check declared sizes before evaluating, so nothing huge is ever computed.
            // Inference from the constant values knows sizes the declared types may not (a range's
            // length, a resize's scales): a size neither knows is judged by the inputs' size alone.
            let fromValues = try? node.op.inferTypes(
                OpInputs(node.op.name, types: args.map { $0?.type }, constants: args), outputCount: node.outputs.count)
            let declared = node.outputs.enumerated().map { k, id in
                (graph.type(of: id).knownShape ?? fromValues.flatMap { k < $0.count ? $0[k].knownShape : nil })
                    .flatMap(Tensor.elementCount)
            }
            if declared.contains(where: { $0 == nil }) {
                guard fits(inputElements) else { continue }
            } else {
                guard declared.allSatisfy({ fits($0 ?? .max) }) else { continue }
            }
            guard let results = try? node.op.evaluate(args, outputCount: node.outputs.count),
                results.count >= node.outputs.count,
                zip(node.outputs, results).allSatisfy({ id, t in
                    fits(t.count) && t.dtype == graph.type(of: id).dtype && Self.fits(t.shape, graph.type(of: id).shape)
                })
            else { continue }
            for (id, tensor) in zip(node.outputs, results) {
                graph.setType(id, tensor.type)
                graph.constants[id] = tensor
            }
            folded.insert(index)
        }
        graph.removeNodes(folded)
        return !folded.isEmpty
    }

    /// Whether a computed shape agrees with a declared one.
    static func fits(_ shape: [Int], _ declared: [Dim]?) -> Bool {
        guard let declared else { return true }
        return declared.count == shape.count
            && zip(declared, shape).allSatisfy { d, s in d.value.map { $0 == s } ?? true }
    }
}
