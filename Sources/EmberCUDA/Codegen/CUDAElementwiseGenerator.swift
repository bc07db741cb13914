import EmberIR
import EmberOps

/// Writes one kernel for an elementwise op or a fused elementwise chain: each thread computes
/// output elements one after another (a grid-stride loop), reading every input at its broadcast
/// position and running the steps in registers, so intermediates never reach device memory.
enum CUDAElementwiseGenerator {
    static func generate(
        _ body: FusedBody, inputs: [CUDATensorType], output: CUDATensorType, multiprocessors: Int
    ) -> Result<CUDAGeneratedKernel, Unsupported> {
        for (i, t) in inputs.enumerated() where !CUDAPrelude.dtypes.contains(t.dtype) {
            return .failure(Unsupported("input \(i) is \(t.dtype); generated kernels read f32, f16 and bf16"))
        }
        guard CUDAPrelude.dtypes.contains(output.dtype) else {
            return .failure(Unsupported("the output is \(output.dtype); generated kernels write f32, f16 and bf16"))
        }
        guard body.inputCount == inputs.count else {
            return .failure(Unsupported("the steps read \(body.inputCount) inputs, the node has \(inputs.count)"))
        }
        // Broadcast strides of every input over the output's dims, then merge neighbouring dims
        // that every input walks contiguously.
        var dims = output.shape
        var strides: [[Int]] = []
        for (i, t) in inputs.enumerated() {
            guard t.shape.count <= dims.count else {
                return .failure(Unsupported("input \(i) has rank \(t.shape.count), above the output's \(dims.count)"))
            }
            let own = Tensor.strides(of: t.shape)
            let pad = dims.count - t.shape.count
            var s = [Int](repeating: 0, count: dims.count)
            for d in 0..<t.shape.count {
                guard t.shape[d] == dims[pad + d] || t.shape[d] == 1 else {
                    return .failure(Unsupported("input \(i) of shape \(t.shape) does not broadcast to \(dims)"))
                }
                s[pad + d] = t.shape[d] == 1 ? 0 : own[d]
            }
            strides.append(s)
        }
        var d = dims.count - 1
        while d > 0 {
            if strides.allSatisfy({ $0[d - 1] == $0[d] * dims[d] }) {
                // The merged dim steps like the inner one.
                dims[d - 1] *= dims[d]
                dims.remove(at: d)
                for k in strides.indices { strides[k][d - 1] = strides[k].remove(at: d) }
            }
            d -= 1
        }
        let count = output.count
        let index = count < Int(Int32.max) ? "unsigned int" : "unsigned long long"
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
            lines.append("float v\(i) = \(CUDAPrelude.load(t.dtype, "in\(i)[\(offset)]"));")
        }
        for (k, step) in body.steps.enumerated() {
            let operands: [String?] = step.operands.map { operand in
                switch operand {
                case nil: nil
                case .input(let i)?: "v\(i)"
                case .step(let j)?: "s\(j)"
                }
            }
            switch CUDAElementwiseExpression.expression(step.op, operands, resultType: output.dtype) {
            case .success(let e): lines.append("float s\(k) = \(e);")
            case .failure(let why): return .failure(why)
            }
        }
        lines.append("out[i] = \(CUDAPrelude.store(output.dtype, "s\(body.steps.count - 1)"));")
        let parameters = inputs.enumerated().map { "const \(CUDAPrelude.storage($0.element.dtype)) *__restrict__ in\($0.offset)" }
            + ["\(CUDAPrelude.storage(output.dtype)) *__restrict__ out"]
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
}
