import EmberIR
import EmberOps

/// How the CUDA provider would run a node, decided from the op and its shapes alone (no device
/// work), so that `support` and `makeKernel` agree.
enum CUDAKernelPlan {
    case generated(CUDAGeneratedKernel)
    case matmul(MatmulPlan)
    /// A product, then the epilogue steps cuBLASLt cannot run as a generated kernel that reads
    /// the product from the output buffer and writes it back in place.
    case matmulThen(MatmulPlan, Epilogue)
    /// A cuDNN convolution with its epilogue.
    case conv(ConvPlan)

    struct Epilogue {
        var kernel: CUDAGeneratedKernel
        /// The node inputs (by position among present inputs) after the product, in order.
        var reads: [Int]
    }

    struct MatmulPlan {
        var shape: CUDAMatmul.Shape
        var dtype: DType
        var hasBias: Bool
        var activation: CUDAMatmulActivation

        func precision() throws -> CUDAMatmulPrecision {
            switch dtype {
            case .f32: return .f32
            case .f16: return .f16
            case .bf16: return .bf16
            default: throw EmberError(.unsupported, "[cuda] no matrix product for \(dtype)")
            }
        }
    }

    static func plan(_ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        let present = node.inputs.compactMap { $0 }
        guard let output = node.outputs.first else { return .failure(EmberError(.unsupported, "\(node.op.name) has no output")) }
        if isConvolution(node.op) { return conv(node, multiprocessors: multiprocessors) }
        if prefersChannelsLast(node.op) { return pool(node, multiprocessors: multiprocessors) }
        if present.contains(where: { $0.layout != .rowMajor }) || node.outputs.contains(where: { $0.layout != .rowMajor }) {
            return .failure(EmberError(.unsupported, "\(node.op.name) takes row-major tensors"))
        }
        switch node.op {
        case let fused as FusedElementwise:
            guard node.outputs.count == 1 else { return .failure(EmberError(.unsupported, "expected one output")) }
            guard present.count == node.inputs.count else {
                return .failure(EmberError(.unsupported, "fused_elementwise has an absent input"))
            }
            return CUDAElementwiseGenerator.generate(fused.body, inputs: present, output: output, multiprocessors: multiprocessors)
                .map { .generated($0) }
        case let fused as FusedEpilogue:
            return matmulEpilogue(fused.body, node, multiprocessors: multiprocessors)
        case is Linear, is MatMul:
            return matmul(node, bias: node.inputs.count > 2 && node.inputs[2] != nil, activation: .none)
        case let op as Gemm:
            return gemm(op, node, multiprocessors: multiprocessors)
        case is Transpose, is SliceOp, is Expand, is Concat, is Gather, is GatherElements:
            return dataMovement(node, multiprocessors: multiprocessors)
        case let op as CumSum:
            return cumulativeSum(op, node, multiprocessors: multiprocessors)
        case let op as Softmax:
            return axisLines(node, axis: op.axis, log: false, multiprocessors: multiprocessors)
        case let op as LogSoftmax:
            return axisLines(node, axis: op.axis, log: true, multiprocessors: multiprocessors)
        case let op as LayerNorm:
            return layerNorm(op, node)
        case let op as RMSNorm:
            // Layer norm without the mean: x / sqrt(mean(x^2) + epsilon) * scale.
            return layerNorm(LayerNorm(axis: op.axis, epsilon: op.epsilon), node, centered: false)
        case let op as Attention: return attention(op, node, multiprocessors: multiprocessors)
        case is ReduceSum: return reduce(node, .sum)
        case is ReduceMean: return reduce(node, .mean)
        case is ReduceMax: return reduce(node, .max)
        case is ReduceMin: return reduce(node, .min)
        case is ReduceSumSquare: return reduce(node, .sumSquare)
        case let op where op.traits.contains(.elementwise):
            // One op as a one-step chain: operand k reads the k-th present input.
            var next = 0
            let operands: [FusedBody.Operand?] = node.inputs.map { input in
                guard input != nil else { return nil }
                defer { next += 1 }
                return .input(next)
            }
            let body: FusedBody
            do {
                body = try FusedBody([FusedBody.Step(op: op, operands: operands)], op: op.name)
            } catch {
                return .failure(EmberError(.unsupported, "\(error)"))
            }
            return CUDAElementwiseGenerator.generate(body, inputs: present, output: output, multiprocessors: multiprocessors)
                .map { .generated($0) }
        default:
            return .failure(EmberError(.unsupported, "\(node.op.name) has no CUDA kernel yet"))
        }
    }

    private static func floatDType(_ t: CUDATensorType, _ what: String) -> EmberError? {
        CUDAPrelude.dtypes.contains(t.dtype) ? nil : EmberError(.unsupported, "\(what) is \(t.dtype); expected f32, f16 or bf16")
    }

    private static func axisLines(_ node: CUDANode, axis: Int, log: Bool, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        guard let x = node.inputs.first ?? nil else { return .failure(EmberError(.unsupported, "expected an input")) }
        if let why = floatDType(x, "the input") { return .failure(why) }
        let rank = x.shape.count
        guard let a = Axes.normalized(axis, rank: rank), rank > 0 else {
            return .failure(EmberError(.unsupported, "axis \(axis) is out of range for rank \(rank)"))
        }
        let outer = x.shape[..<a].reduce(1, *)
        let inner = x.shape[(a + 1)...].reduce(1, *)
        return .success(.generated(CUDARowGenerator.softmax(
            x.dtype, outer: outer, length: x.shape[a], inner: inner, log: log, multiprocessors: multiprocessors)))
    }

    private static func layerNorm(_ op: LayerNorm, _ node: CUDANode, centered: Bool = true) -> Result<CUDAKernelPlan, EmberError> {
        guard node.outputs.count == 1 else {
            return .failure(EmberError(.unsupported, "layer_norm's mean and inverse deviation outputs are not generated"))
        }
        guard node.inputs.count >= 2, let x = node.inputs[0], let scale = node.inputs[1] else {
            return .failure(EmberError(.unsupported, "expected x and scale"))
        }
        let bias = node.inputs.count > 2 ? node.inputs[2] : nil
        for (t, what) in [(x, "x"), (scale, "scale")] + (bias.map { [($0, "bias")] } ?? []) {
            if let why = floatDType(t, what) { return .failure(why) }
        }
        let rank = x.shape.count
        guard rank > 0, let a = Axes.normalized(op.axis, rank: rank) else {
            return .failure(EmberError(.unsupported, "axis \(op.axis) is out of range"))
        }
        let normalized = Array(x.shape[a...])
        let length = normalized.reduce(1, *)
        for (t, what) in [(scale, "scale")] + (bias.map { [($0, "bias")] } ?? []) where t.count != length {
            return .failure(EmberError(.unsupported, "\(what) of shape \(t.shape) is broadcast; expected \(normalized)"))
        }
        return .success(.generated(CUDARowGenerator.layerNorm(
            x: x.dtype, scale: scale.dtype, bias: bias?.dtype, rows: x.count / max(length, 1), length: length,
            epsilon: op.epsilon, centered: centered)))
    }

    private static func cumulativeSum(_ op: CumSum, _ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        guard node.inputs.count == 2, let x = node.inputs[0], let y = node.outputs.first else {
            return .failure(EmberError(.unsupported, "expected x and axis"))
        }
        guard CUDAPrelude.valueDTypes.contains(x.dtype), x.dtype != .bool, y.dtype == x.dtype, y.shape == x.shape else {
            return .failure(EmberError(.unsupported, "cumulative sums of \(x.dtype) have no CUDA kernel"))
        }
        guard node.constants.count > 1, let axis = node.constants[1]?.ints().first else {
            return .failure(EmberError(.unsupported, "the axis is computed at run time; expected a constant"))
        }
        let rank = x.shape.count
        guard rank > 0, let a = Axes.normalized(axis, rank: rank) else {
            return .failure(EmberError(.unsupported, "axis \(axis) is out of range for rank \(rank)"))
        }
        return .success(.generated(CUDAScanGenerator.cumulativeSum(
            outer: x.shape[..<a].reduce(1, *), size: x.shape[a], inner: x.shape[(a + 1)...].reduce(1, *), dtype: x.dtype,
            exclusive: op.exclusive, reverse: op.reverse, multiprocessors: multiprocessors)))
    }

    private static func reduce(_ node: CUDANode, _ combine: CUDARowGenerator.Combine) -> Result<CUDAKernelPlan, EmberError> {
        guard let x = node.inputs.first ?? nil else { return .failure(EmberError(.unsupported, "expected an input")) }
        if let why = floatDType(x, "the input") { return .failure(why) }
        let rank = x.shape.count
        var axes: [Int]
        if node.inputs.count > 1, node.inputs[1] != nil {
            guard let constant = node.constants.count > 1 ? node.constants[1] : nil else {
                return .failure(EmberError(.unsupported, "the axes are computed at run time; expected a constant"))
            }
            axes = constant.ints().map { $0 < 0 ? $0 + rank : $0 }.sorted()
        } else {
            axes = Array(0..<rank)
        }
        if axes.isEmpty { axes = Array(0..<rank) }  // noop_with_empty_axes is refused below by shape.
        guard let first = axes.first, let last = axes.last, axes == Array(first...last), first >= 0, last < rank else {
            return .failure(EmberError(.unsupported, "reduced axes \(axes) are not one contiguous run"))
        }
        guard let output = node.outputs.first, output.count == x.count / max(x.shape[first...last].reduce(1, *), 1) else {
            return .failure(EmberError(.unsupported, "the output shape does not match a reduction of axes \(axes)"))
        }
        var kernel = CUDARowGenerator.reduce(
            x.dtype, outer: x.shape[..<first].reduce(1, *), length: x.shape[first...last].reduce(1, *),
            inner: x.shape[(last + 1)...].reduce(1, *), combine: combine)
        kernel.reads = [0]
        return .success(.generated(kernel))
    }

    /// `linear(x, W, b?)` or `matmul(x, W)` with x `[..., M, K]` and W `[K, N]` or `[..., K, N]`
    /// with the same leading dims.
    private static func matmul(_ node: CUDANode, bias: Bool, activation: CUDAMatmulActivation) -> Result<CUDAKernelPlan, EmberError> {
        guard node.inputs.count >= 2, let x = node.inputs[0], let w = node.inputs[1] else {
            return .failure(EmberError(.unsupported, "expected x and W"))
        }
        guard x.dtype == w.dtype, [.f32, .f16, .bf16].contains(x.dtype) else {
            return .failure(EmberError(.unsupported, "matrix products of \(x.dtype) and \(w.dtype) are not supported"))
        }
        guard x.shape.count >= 2 || (x.shape.count == 1 && w.shape.count == 2), w.shape.count >= 2 else {
            return .failure(EmberError(.unsupported, "x of rank \(x.shape.count) and W of rank \(w.shape.count) are not supported"))
        }
        let k = x.shape[x.shape.count - 1]
        let n = w.shape[w.shape.count - 1]
        guard w.shape[w.shape.count - 2] == k else { return .failure(EmberError(.unsupported, "inner dims differ")) }
        var shape: CUDAMatmul.Shape
        if w.shape.count == 2 {
            shape = CUDAMatmul.Shape(m: x.count / max(k, 1), n: n, k: k)
        } else {
            guard x.shape.count == w.shape.count, x.shape.dropLast(2) == w.shape.dropLast(2) else {
                return .failure(EmberError(.unsupported, "batched W of shape \(w.shape) must match x's leading dims \(x.shape)"))
            }
            shape = CUDAMatmul.Shape(
                batch: x.shape.dropLast(2).reduce(1, *), m: x.shape[x.shape.count - 2], n: n, k: k, batchedWeight: true)
        }
        if bias {
            guard node.inputs.count > 2, let b = node.inputs[2], b.dtype == x.dtype, b.count == n else {
                return .failure(EmberError(.unsupported, "expected a bias of \(n) elements of \(x.dtype)"))
            }
        }
        guard shape.m > 0, shape.n > 0, shape.k > 0 else { return .failure(EmberError(.unsupported, "the product is empty")) }
        return .success(.matmul(MatmulPlan(shape: shape, dtype: x.dtype, hasBias: bias, activation: activation)))
    }

    /// A fused epilogue: cuBLASLt runs the product and the longest start of the steps it can (a
    /// bias add of a 1-D input, then relu or tanh-GELU); a generated kernel runs the rest in place.
    private static func matmulEpilogue(
        _ body: FusedBody, _ node: CUDANode, multiprocessors: Int
    ) -> Result<CUDAKernelPlan, EmberError> {
        let anchor = body.steps[0]
        guard anchor.op is Linear || anchor.op is MatMul || anchor.op is Gemm else {
            return .failure(EmberError(.unsupported, "epilogues of \(anchor.op.name) are not run by cuBLASLt"))
        }
        // A gemm reads A, B and maybe C; a linear its own bias too.
        let reads = anchor.op is MatMul ? 2 : anchor.operands.count
        guard anchor.operands.count == reads, anchor.operands == (0..<reads).map({ .input($0) }),
            node.inputs.allSatisfy({ $0 != nil })
        else {
            return .failure(EmberError(.unsupported, "the product must read the node's first inputs in order"))
        }
        if let gemm = anchor.op as? Gemm {
            // cuBLASLt runs the gemm with its C as bias; a generated kernel runs every later step.
            var inner = node
            inner.inputs = Array(node.inputs.prefix(reads))
            inner.outputs = [CUDATensorType(node.outputs[0].dtype, node.outputs[0].shape)]
            guard case .success(.matmul(let product)) = Self.gemm(gemm, inner, multiprocessors: multiprocessors) else {
                return .failure(EmberError(.unsupported, "the gemm of this epilogue is not one cuBLASLt product"))
            }
            return epilogue(body, after: 0, product: product, productShape: [product.shape.m, product.shape.n], node,
                            multiprocessors: multiprocessors)
        }
        var hasBias = reads == 3
        var activation = CUDAMatmulActivation.none
        var last = 0  // the last step cuBLASLt runs
        for (k, step) in body.steps.enumerated().dropFirst() {
            let readsLast = step.operands.contains(.step(last))
            let onlyHere = !body.steps[(k + 1)...].contains { $0.operands.contains(.step(last)) }
            guard readsLast, onlyHere else { break }
            if step.op is Add, !hasBias, activation == .none, step.operands.count == 2,
                step.operands.contains(.input(2)), let b = node.inputs[2], b.shape.count == 1
            {
                hasBias = true
            } else if step.op is Relu, activation == .none {
                activation = .relu
            } else if let gelu = step.op as? Gelu, gelu.approximate == .tanh, activation == .none {
                activation = .geluTanh
            } else {
                break
            }
            last = k
        }
        var inner = node
        inner.inputs = Array(node.inputs.prefix(hasBias ? 3 : 2))
        guard case .success(.matmul(let product)) = matmul(inner, bias: hasBias, activation: activation) else {
            return matmul(inner, bias: hasBias, activation: activation)
        }
        guard let x = node.inputs[0] else { return .failure(EmberError(.unsupported, "no input")) }
        return epilogue(body, after: last, product: product, productShape: Array(x.shape.dropLast()) + [product.shape.n], node,
                        multiprocessors: multiprocessors)
    }

    /// The product, then the steps after `last` as a generated kernel that reads the product from
    /// the output buffer and writes it back in place.
    private static func epilogue(
        _ body: FusedBody, after last: Int, product: MatmulPlan, productShape: [Int], _ node: CUDANode, multiprocessors: Int
    ) -> Result<CUDAKernelPlan, EmberError> {
        if last == body.steps.count - 1 { return .success(.matmul(product)) }

        // The rest: operand `%last` becomes input 0 (the product, in the output buffer); node inputs
        // the rest reads become inputs 1, 2, ...
        guard let output = node.outputs.first, let x = node.inputs[0] else { return .failure(EmberError(.unsupported, "no output")) }
        guard output.shape == productShape, output.dtype == x.dtype else {
            return .failure(EmberError(.unsupported, "the epilogue changes the product's shape or dtype; expected \(x.dtype)\(productShape)"))
        }
        var reads: [Int] = []
        var steps: [FusedBody.Step] = []
        for step in body.steps[(last + 1)...] {
            let operands: [FusedBody.Operand?] = step.operands.map { operand in
                switch operand {
                case nil: return nil
                case .step(let j)?: return j == last ? .input(0) : .step(j - last - 1)
                case .input(let i)?:
                    if let at = reads.firstIndex(of: i) { return .input(at + 1) }
                    reads.append(i)
                    return .input(reads.count)
                }
            }
            steps.append(FusedBody.Step(op: step.op, operands: operands))
        }
        let rest: FusedBody
        do {
            rest = try FusedBody(steps, op: FusedEpilogue.name)
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
        let types = [CUDATensorType(x.dtype, productShape)] + reads.compactMap { node.inputs[$0] }
        return CUDAElementwiseGenerator.generate(
            rest, inputs: types, output: output, multiprocessors: multiprocessors, inPlace: true
        ).map { .matmulThen(product, Epilogue(kernel: $0, reads: reads)) }
    }
}
