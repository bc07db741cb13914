import EmberDNNL
import EmberIR
import EmberOps

/// A node as an anchor op (convolution, matrix product...) with its epilogue as oneDNN post-ops:
/// a plain node is its own anchor with no post-ops; a `fused_epilogue` is taken apart.
struct Epilogue {
    var anchor: any Operator
    /// The node input each anchor operand reads, nil where absent.
    var operands: [Int?]
    var postOps: [PostOp]

    /// Every node input that a post-op reads.
    var postOpInputs: Set<Int> {
        Set(postOps.compactMap { op in
            switch op {
            case .eltwise: nil
            case .sum(_, let input), .binary(_, let input): input
            }
        })
    }

    init(_ node: KernelNode) throws {
        guard let fused = node.op as? FusedEpilogue else {
            anchor = node.op
            operands = node.inputTypes.indices.map { node.inputTypes[$0] == nil ? nil : $0 }
            postOps = []
            return
        }
        let steps = fused.body.steps
        anchor = steps[0].op
        operands = steps[0].operands.map { operand in
            if case .input(let i)? = operand { return i }
            return nil
        }
        postOps = []
        let output = node.outputTypes[0].shape
        // Post-ops write the anchor's result in place, so the steps may not broadcast it larger
        // (a squeeze-and-excite scale: conv to [N,C,1,1], then a mul by [N,C,H,W]).
        let anchorInputs = OpInputs(
            anchor.name, types: operands.map { $0.flatMap { node.inputTypes[$0] } },
            constants: operands.map { $0.flatMap { node.constants[$0] } })
        guard let anchorOutput = try? anchor.inferTypes(anchorInputs, outputCount: 1).first?.shape, anchorOutput == output else {
            throw EmberError(.unsupported, "the epilogue broadcasts the \(anchor.name) result to a larger shape")
        }
        for k in 1..<steps.count {
            let step = steps[k]
            let chain = step.operands.firstIndex { $0 == .step(k - 1) }
            guard let chain, step.operands.filter({ if case .step = $0 { true } else { false } }).count == 1 else {
                throw EmberError(.unsupported, "step \(k) (\(step.op.name)) does not read only the previous step's result")
            }
            let others: [(Int, Operand)] = step.operands.enumerated().compactMap { position, operand in
                guard position != chain else { return nil }
                guard case .input(let i)? = operand else { return (-1, .absent) }
                return (i, node.constants[i].map { .constant($0) } ?? .computed(node.inputTypes[i]))
            }
            switch step.op {
            case is Add, is Sub, is Mul, is Div:
                let (input, operand) = others[0]
                postOps += try Self.arithmetic(step.op, chainFirst: chain == 0, input: input, operand, output: output, k: k)
            default:
                guard chain == 0 else { throw EmberError(.unsupported, "step \(k) (\(step.op.name)) reads the result as a later operand") }
                switch Eltwise.of(step.op, others: others.map(\.1)) {
                case .success(let ops): postOps += ops.map { .eltwise($0) }
                case .failure(let error): throw EmberError(.unsupported, "step \(k): \(error.message)")
                }
            }
        }
    }

    /// The post-ops of `result OP operand` (or `operand OP result` when not `chainFirst`).
    private static func arithmetic(
        _ op: any Operator, chainFirst: Bool, input: Int, _ operand: Operand, output: [Dim]?, k: Int
    ) throws -> [PostOp] {
        func linear(_ alpha: Double, _ beta: Double) -> PostOp {
            .eltwise(Eltwise(algorithm: dnnl_eltwise_linear, alpha: Float(alpha), beta: Float(beta)))
        }
        let negate = linear(-1, 0)
        if case .constant(let c) = operand, c.count == 1 {
            let v = c.doubles()[0]
            switch (op, chainFirst) {
            case (is Add, _): return [linear(1, v)]
            case (is Mul, _): return [linear(v, 0)]
            case (is Sub, true): return [linear(1, -v)]
            case (is Sub, false): return [linear(-1, v)]
            case (is Div, true): return [linear(1 / v, 0)]
            default: throw EmberError(.unsupported, "step \(k) divides by the result")
            }
        }
        var type: TensorType?
        switch operand {
        case .constant(let c): type = c.type
        case .computed(let t): type = t
        case .absent: throw EmberError(.unsupported, "step \(k) (\(op.name)) has an absent operand")
        }
        guard let shape = type?.shape, let output, shape.count <= output.count else {
            throw EmberError(.unsupported, "step \(k) (\(op.name)) has an operand of unknown shape or higher rank")
        }
        let padded = Array(repeating: Dim.known(1), count: output.count - shape.count) + shape
        guard zip(padded, output).allSatisfy({ $0 == .known(1) || $0 == $1 }) else {
            throw EmberError(.unsupported, "step \(k) (\(op.name)) has an operand \(type!) that does not broadcast to the output")
        }
        let full = padded == output
        switch (op, chainFirst) {
        case (is Add, _): return [full ? .sum(scale: 1, input: input) : .binary(dnnl_binary_add, input: input)]
        case (is Sub, true): return [full ? .sum(scale: -1, input: input) : .binary(dnnl_binary_sub, input: input)]
        case (is Sub, false): return [negate, full ? .sum(scale: 1, input: input) : .binary(dnnl_binary_add, input: input)]
        case (is Mul, _): return [.binary(dnnl_binary_mul, input: input)]
        case (is Div, true): return [.binary(dnnl_binary_div, input: input)]
        default: throw EmberError(.unsupported, "step \(k) divides by the result")
        }
    }
}
