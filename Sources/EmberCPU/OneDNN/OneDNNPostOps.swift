import EmberDNNL
import EmberIR

/// One step of a primitive's epilogue.
enum PostOp: @unchecked Sendable {
    case eltwise(Eltwise)
    /// Adds `scale` times node input `input`, which has the output's shape.
    case sum(scale: Float, input: Int)
    /// `algorithm` (binary add, sub, mul, div) with node input `input` broadcast to the output.
    case binary(dnnl_alg_kind_t, input: Int)
}

/// Post-ops made concrete for one set of shapes: the operands' descriptors and memory.
struct ResolvedPostOps {
    var ops: [PostOp] = []
    var binaryDescs: [dnnl_memory_desc_t] = []
    var bindings: [Binding] = []
    /// The input a sum post-op reads, copied into the output before the primitive runs.
    var prefill: Int?

    /// - Parameters:
    ///   - output: the node's output shape for these inputs.
    ///   - dst: the primitive's destination dims (output's dims, or a flattened form of them).
    ///   - fold: maps an operand shape padded to `output`'s rank onto `dst`'s dims.
    init(
        _ postOps: [PostOp], node: KernelNode, shapes: [[Int]?], constants: [AlignedBuffer?], output: [Int], dst: [Int],
        fold: ([Int]) throws -> [Int]
    ) throws {
        let outputLayout = node.outputLayouts[0]
        for op in postOps {
            switch op {
            case .eltwise:
                ops.append(op)
            case .sum(let scale, let input):
                if prefill == nil, shapes[input] == output, node.inputLayouts[input] == outputLayout, constants[input] == nil {
                    prefill = input
                    ops.append(op)
                } else {
                    try appendBinary(scale < 0 ? dnnl_binary_sub : dnnl_binary_add, input)
                }
            case .binary(let algorithm, let input):
                try appendBinary(algorithm, input)
            }
        }

        func appendBinary(_ algorithm: dnnl_alg_kind_t, _ input: Int) throws {
            guard let shape = shapes[input], shape.count <= output.count else {
                throw EmberError(.unsupported, "operand \(input) does not broadcast to the output \(output)")
            }
            let padded = Array(repeating: 1, count: output.count - shape.count) + shape
            guard zip(padded, output).allSatisfy({ $0 == 1 || $0 == $1 }) else {
                throw EmberError(.unsupported, "operand \(input) of shape \(shape) does not broadcast to the output \(output)")
            }
            let dims = try fold(padded)
            let layout = node.inputLayouts[input]
            if layout != .plain, dims != dst { throw EmberError(.unsupported, "broadcast operand \(input) in \(layout)") }
            let desc = try MemoryDesc.make(dims, dims == dst ? layout : .plain)
            let arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * Int32(ops.count + 1) | DNNL_ARG_SRC_1
            bindings.append(Binding(arg: arg, desc: desc, source: constants[input].map { .buffer($0) } ?? .input(input)))
            binaryDescs.append(desc)
            ops.append(.binary(algorithm, input: input))
        }
    }

    /// Sets the post-ops on `attributes`.
    func apply(to attributes: PrimitiveAttributes) throws {
        try attributes.setPostOps(ops, binaryDescs: binaryDescs)
    }
}

/// f32 copies of a node's constant inputs that primitives read as they are (biases, operands of
/// binary post-ops, normalization parameters); nil for other inputs.
func constantBuffers(_ node: KernelNode, _ indices: Set<Int>) -> [AlignedBuffer?] {
    node.constants.enumerated().map { i, tensor in
        guard indices.contains(i), let tensor, tensor.dtype == .f32 else { return nil }
        return AlignedBuffer(floats: tensor)
    }
}

/// The concrete shape of every input: the run's shape, or the static one (a constant's).
func concreteShapes(_ shapes: [[Int]?], _ node: KernelNode) -> [[Int]?] {
    shapes.enumerated().map { i, shape in shape ?? node.inputTypes[i]?.knownShape }
}
