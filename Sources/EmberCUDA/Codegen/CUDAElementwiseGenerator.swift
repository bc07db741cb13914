import EmberIR
import EmberOps

/// Writes one kernel for an elementwise op or a fused elementwise chain: each thread computes
/// output elements one after another (a grid-stride loop), reading every input at its broadcast
/// position and running the steps in registers, so intermediates never reach device memory.
enum CUDAElementwiseGenerator {
    /// With `inPlace`, input 0 and the output may be one buffer (each element is read before the
    /// same thread writes it), so neither is declared `__restrict__`.
    static func generate(
        _ body: FusedBody, inputs: [CUDATensorType], output: CUDATensorType, multiprocessors: Int, inPlace: Bool = false
    ) -> Result<CUDAGeneratedKernel, EmberError> {
        for (i, t) in inputs.enumerated() where !CUDAPrelude.valueDTypes.contains(t.dtype) {
            return .failure(EmberError(.unsupported, "input \(i) is \(t.dtype); generated kernels read f32, f16, bf16, i64, i32 and bool"))
        }
        guard CUDAPrelude.valueDTypes.contains(output.dtype) else {
            return .failure(EmberError(.unsupported, "the output is \(output.dtype); generated kernels write f32, f16, bf16, i64, i32 and bool"))
        }
        guard body.inputCount == inputs.count else {
            return .failure(EmberError(.unsupported, "the steps read \(body.inputCount) inputs, the node has \(inputs.count)"))
        }
        let stepTypes: [DType]
        switch resultTypes(body, inputs: inputs) {
        case .success(let types): stepTypes = types
        case .failure(let why): return .failure(why)
        }
        guard stepTypes.last == output.dtype else {
            return .failure(EmberError(.unsupported, "the steps give \(stepTypes.last.map { "\($0)" } ?? "nothing"), the output is \(output.dtype)"))
        }
        // Floats only: 16-byte accesses where the shape allows. Integers and bools take the
        // one-element-per-step path, typed (they are masks and indices, seldom large).
        let floatsOnly = (inputs.map(\.dtype) + stepTypes).allSatisfy(CUDAPrelude.dtypes.contains)
        // Broadcast strides of every input over the output's dims, neighbouring dims that every
        // input walks contiguously merged.
        let layout: BroadcastStrides
        do {
            layout = try BroadcastStrides(inputs: inputs.map(\.shape), output: output.shape, op: "elementwise")
        } catch let error as EmberError {
            return .failure(EmberError(.unsupported, error.message))
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
        let (dims, strides) = (layout.dims, layout.strides)
        let count = output.count
        let index = count < Int(Int32.max) ? "unsigned int" : "unsigned long long"
        let width = inputs.contains { $0.dtype != .f32 } || output.dtype != .f32 ? 8 : 4
        // Groups of `width` elements stay inside one innermost row when it divides the row, so
        // every input is read along that row with stride 1 (one 16-byte access) or 0 (one value).
        if floatsOnly, let inner = dims.last, inner % width == 0, count > 0, strides.allSatisfy({ ($0.last ?? 0) <= 1 }) {
            return vectorized(
                body, inputs: inputs, stepTypes: stepTypes, dims: dims, strides: strides, output: output, width: width,
                multiprocessors: multiprocessors, inPlace: inPlace)
        }
        var lines: [String] = []
        // Coordinates are needed only when some input is not read at the output's own position.
        let contiguous = Tensor.strides(of: dims)
        let needsCoordinates = strides.contains { $0 != contiguous && !$0.allSatisfy { $0 == 0 } }
        if needsCoordinates {
            lines.append("\(index) r = i;")
            for k in stride(from: dims.count - 1, through: 0, by: -1) {
                lines.append(k == 0 ? "\(index) c0 = r;" : "\(index) c\(k) = r % \(dims[k])u; r /= \(dims[k])u;")
            }
        }
        for (i, t) in inputs.enumerated() {
            let offset: String
            if strides[i].allSatisfy({ $0 == 0 }) {
                offset = "0"
            } else if strides[i] == contiguous {
                offset = "i"
            } else {
                offset = strides[i].enumerated().filter { $0.element != 0 }.map { "c\($0.offset) * \($0.element)u" }
                    .joined(separator: " + ")
            }
            lines.append("\(CUDAPrelude.value(t.dtype)) v\(i) = \(CUDAPrelude.load(t.dtype, "in\(i)[\(offset)]"));")
        }
        for (k, step) in body.steps.enumerated() {
            let operands: [String?] = step.operands.map { operand in
                switch operand {
                case nil: nil
                case .input(let i)?: "v\(i)"
                case .step(let j)?: "s\(j)"
                }
            }
            let types = operandTypes(step, inputs: inputs, steps: stepTypes)
            switch CUDAElementwiseExpression.expression(step.op, operands, types: types, resultType: stepTypes[k]) {
            case .success(let e): lines.append("\(CUDAPrelude.value(stepTypes[k])) s\(k) = \(e);")
            case .failure(let why): return .failure(why)
            }
        }
        lines.append("out[i] = \(CUDAPrelude.store(output.dtype, "s\(body.steps.count - 1)"));")
        let parameters = parameterList(inputs, output, inPlace: inPlace)
        let threads = 256
        let blocks = max(1, min((count + threads - 1) / threads, multiprocessors * 16))
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_elementwise(\(parameters.joined(separator: ", "))) {
                for (\(index) i = blockIdx.x * \(threads)u + threadIdx.x; i < \(count)u; i += gridDim.x * \(threads)u) {
                    \(lines.joined(separator: "\n        "))
                }
            }

            """
        return .success(CUDAGeneratedKernel(source: source, entry: "ember_elementwise", blocks: blocks, threadsPerBlock: threads))
    }

    /// Each thread handles `width` consecutive elements of one innermost row, with 16-byte loads
    /// and stores (4 f32 or 8 f16/bf16 per access); inputs constant along the row load one value.
    private static func vectorized(
        _ body: FusedBody, inputs: [CUDATensorType], stepTypes: [DType], dims: [Int], strides: [[Int]],
        output: CUDATensorType, width: Int, multiprocessors: Int, inPlace: Bool
    ) -> Result<CUDAGeneratedKernel, EmberError> {
        let idx = index(output.count)
        var lines: [String] = ["\(idx) i = g * \(width)u;"]
        let contiguous = Tensor.strides(of: dims)
        // One value per group where the row stride is 0; a vector of `width` where it is 1.
        let perGroup = strides.map { ($0.last ?? 0) == 0 }
        let offsets: [String] = strides.map { s in
            if s.allSatisfy({ $0 == 0 }) { return "0" }
            if s == contiguous { return "i" }
            return s.enumerated().filter { $0.element != 0 }.map { "c\($0.offset) * \($0.element)u" }.joined(separator: " + ")
        }
        if offsets.contains(where: { $0 != "0" && $0 != "i" }) {
            lines.append("\(idx) r = i;")
            for k in stride(from: dims.count - 1, through: 0, by: -1) {
                lines.append(k == 0 ? "\(idx) c0 = r;" : "\(idx) c\(k) = r % \(dims[k])u; r /= \(dims[k])u;")
            }
        }
        for (k, t) in inputs.enumerated() {
            if perGroup[k] {
                lines.append("float v\(k) = \(CUDAPrelude.load(t.dtype, "in\(k)[\(offsets[k])]"));")
                continue
            }
            lines.append("float v\(k)[\(width)];")
            let per = 16 / t.dtype.byteSize
            for c in 0..<(width / per) {
                let q = "q\(k)_\(c)"
                lines.append("uint4 \(q) = reinterpret_cast<const uint4 *>(in\(k) + \(offsets[k]))[\(c)];")
                for (w, field) in ["x", "y", "z", "w"].enumerated() {
                    if t.dtype == .f32 {
                        lines.append("v\(k)[\(c * 4 + w)] = __uint_as_float(\(q).\(field));")
                    } else {
                        let word = "\(q).\(field)"
                        lines.append("v\(k)[\(c * 8 + 2 * w)] = \(CUDAPrelude.load(t.dtype, "(unsigned short)(\(word) & 0xffffu)"));")
                        lines.append("v\(k)[\(c * 8 + 2 * w + 1)] = \(CUDAPrelude.load(t.dtype, "(unsigned short)(\(word) >> 16)"));")
                    }
                }
            }
        }
        lines.append("float o[\(width)];")
        lines.append("#pragma unroll")
        lines.append("for (int e = 0; e < \(width); ++e) {")
        for (k, step) in body.steps.enumerated() {
            let operands: [String?] = step.operands.map { operand in
                switch operand {
                case nil: nil
                case .input(let i)?: perGroup[i] ? "v\(i)" : "v\(i)[e]"
                case .step(let j)?: "s\(j)"
                }
            }
            let types = operandTypes(step, inputs: inputs, steps: stepTypes)
            switch CUDAElementwiseExpression.expression(step.op, operands, types: types, resultType: stepTypes[k]) {
            case .success(let e): lines.append("    float s\(k) = \(e);")
            case .failure(let why): return .failure(why)
            }
        }
        lines.append("    o[e] = s\(body.steps.count - 1);")
        lines.append("}")
        let per = 16 / output.dtype.byteSize
        for c in 0..<(width / per) {
            let fields: [String] = (0..<4).map { w in
                if output.dtype == .f32 { return "__float_as_uint(o[\(c * 4 + w)])" }
                let lo = CUDAPrelude.store(output.dtype, "o[\(c * 8 + 2 * w)]")
                let hi = CUDAPrelude.store(output.dtype, "o[\(c * 8 + 2 * w + 1)]")
                return "((unsigned int)\(lo) | ((unsigned int)\(hi) << 16))"
            }
            lines.append("reinterpret_cast<uint4 *>(out + i)[\(c)] = make_uint4(\(fields.joined(separator: ", ")));")
        }
        let parameters = parameterList(inputs, output, inPlace: inPlace)
        let groups = output.count / width
        let threads = 256
        let blocks = max(1, min((groups + threads - 1) / threads, multiprocessors * 16))
        let source = CUDAPrelude.source + """
            extern "C" __global__ void __launch_bounds__(\(threads)) ember_elementwise(\(parameters.joined(separator: ", "))) {
                for (\(index(output.count)) g = blockIdx.x * \(threads)u + threadIdx.x; g < \(groups)u; g += gridDim.x * \(threads)u) {
                    \(lines.joined(separator: "\n        "))
                }
            }

            """
        return .success(CUDAGeneratedKernel(source: source, entry: "ember_elementwise", blocks: blocks, threadsPerBlock: threads))
    }

    /// The dtype of every step's result, inferred by the steps' ops from the inputs' types.
    static func resultTypes(_ body: FusedBody, inputs: [CUDATensorType]) -> Result<[DType], EmberError> {
        var results: [TensorType] = []
        for step in body.steps {
            let types: [TensorType?] = step.operands.map { operand in
                switch operand {
                case nil: nil
                case .input(let i)?: inputs.indices.contains(i) ? TensorType(inputs[i].dtype, known: inputs[i].shape) : nil
                case .step(let j)?: results.indices.contains(j) ? results[j] : nil
                }
            }
            do {
                guard let t = try step.op.inferTypes(OpInputs(step.op.name, types: types), outputCount: 1).first else {
                    return .failure(EmberError(.unsupported, "\(step.op.name) gives no result"))
                }
                results.append(t)
            } catch {
                return .failure(EmberError(.unsupported, "\(error)"))
            }
        }
        return .success(results.map(\.dtype))
    }

    /// The dtypes of a step's operands.
    private static func operandTypes(_ step: FusedBody.Step, inputs: [CUDATensorType], steps: [DType]) -> [DType?] {
        step.operands.map { operand in
            switch operand {
            case nil: nil
            case .input(let i)?: inputs[i].dtype
            case .step(let j)?: steps[j]
            }
        }
    }

    /// The kernel's parameters: the inputs, then the output.
    private static func parameterList(_ inputs: [CUDATensorType], _ output: CUDATensorType, inPlace: Bool) -> [String] {
        inputs.enumerated().map { k, t in
            "const \(CUDAPrelude.storage(t.dtype)) *\(inPlace && k == 0 ? "" : "__restrict__ ")in\(k)"
        } + ["\(CUDAPrelude.storage(output.dtype)) *\(inPlace ? "" : "__restrict__ ")out"]
    }

    /// The index type for `count` elements.
    private static func index(_ count: Int) -> String { count < Int(Int32.max) ? "unsigned int" : "unsigned long long" }
}
