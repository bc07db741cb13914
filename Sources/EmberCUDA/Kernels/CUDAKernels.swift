import EmberIR
import EmberOps
import Foundation

/// The CUDA backend's kernels: cuBLASLt for matrix products (bias and activation fused into the
/// epilogue), cuDNN for 2-D convolutions on channels-last tensors (bias, residual add and relu
/// fused where an engine allows), and generated CUDA C++ for elementwise chains, softmax, layer
/// norm and reductions.
/// Like the CPU backend's providers, it says for each node whether it runs it, and why not.
///
///     let kernels = try CUDAKernels(CUDAContext())
///     let node = try CUDANode(op: Softmax(axis: -1), inputs: [CUDATensorType(.f16, [8, 1000])])
///     let kernel = try kernels.makeKernel(node)
///     try kernel.run([x], [y], stream: stream)
public final class CUDAKernels: Sendable {
    public let name = "cuda"
    public let context: CUDAContext
    public let compiler: CUDAKernelCompiler
    /// Whether f32 matrix products and convolutions may round their operands to tf32 on the
    /// tensor cores.
    public let allowTF32: Bool
    /// How many cuDNN plans a convolution builds and times, at most.
    public let convolutionCandidates: Int
    private let blas: CUBLASLtHandle?
    private let blasFailure: String?
    private let dnn: CUDNNHandle?
    private let dnnFailure: String?
    /// Where convolutions time their candidate plans while they are built.
    private let tuning: CUDAStream

    /// `images` is machine code of generated kernels compiled before (an engine file's), by
    /// `CUDAKernelCompiler.imageKey`.
    public init(
        _ context: CUDAContext, allowTF32: Bool = false, convolutionCandidates: Int = 8, images: [String: [UInt8]] = [:]
    ) throws {
        self.context = context
        compiler = try CUDAKernelCompiler(context, images: images)
        self.allowTF32 = allowTF32
        self.convolutionCandidates = max(1, convolutionCandidates)
        do {
            blas = try CUBLASLtHandle(context)
            blasFailure = nil
        } catch {
            blas = nil
            blasFailure = "\(error)"
        }
        do {
            dnn = try CUDNNHandle(context)
            dnnFailure = nil
        } catch {
            dnn = nil
            dnnFailure = "\(error)"
        }
        tuning = try CUDAStream(context)
    }

    /// Whether this provider runs `node`, and if not, why.
    public func support(_ node: CUDANode) -> CUDASupport {
        switch CUDAKernelPlan.plan(node, multiprocessors: context.device.multiprocessorCount) {
        case .success(.matmul), .success(.matmulThen):
            blas == nil ? .unsupported(blasFailure ?? "cuBLASLt is unavailable") : .supported
        case .success(.conv):
            dnn == nil ? .unsupported(dnnFailure ?? "cuDNN is unavailable") : .supported
        case .success: .supported
        case .failure(let why): .unsupported(why.message)
        }
    }

    /// The CUDA C++ written for `node` on a device with `multiprocessors` SMs, or nil when it is
    /// not a generated kernel (a cuBLASLt product, or unsupported). Needs no device.
    public static func generatedSource(_ node: CUDANode, multiprocessors: Int = 132) -> String? {
        if case .success(.generated(let kernel)) = CUDAKernelPlan.plan(node, multiprocessors: multiprocessors) {
            return kernel.source
        }
        return nil
    }

    /// The kernel for `node`; throws, naming the node, when the provider does not run it.
    public func makeKernel(_ node: CUDANode) throws -> any CUDAOpKernel {
        do {
            switch CUDAKernelPlan.plan(node, multiprocessors: context.device.multiprocessorCount) {
            case .failure(let why):
                throw EmberError(.unsupported, "[cuda] \(why.message)", at: node.location)
            case .success(.generated(let generated)):
                return CUDAGeneratedOpKernel(function: try compiler.function(generated), kernel: generated)
            case .success(.matmul(let plan)):
                return CUDAMatmulOpKernel(matmul: try matmul(plan), epilogue: nil)
            case .success(.matmulThen(let plan, let rest)):
                let epilogue = CUDAMatmulOpKernel.Epilogue(
                    kernel: CUDAGeneratedOpKernel(function: try compiler.function(rest.kernel), kernel: rest.kernel),
                    reads: rest.reads)
                return CUDAMatmulOpKernel(matmul: try matmul(plan), epilogue: epilogue)
            case .success(.conv(let plan)):
                return try convolution(plan, node)
            }
        } catch let error as EmberError {
            throw error.location == nil ? error.located(node.location) : error
        }
    }
}

extension CUDAKernels {
    /// The kernel that copies a 4-D tensor of `type` into `layout`.
    func layoutCopy(_ type: CUDATensorType, to layout: CUDALayout) throws -> CUDAGeneratedOpKernel {
        switch CUDALayoutGenerator.convert(type, to: layout, multiprocessors: context.device.multiprocessorCount) {
        case .success(let kernel): return CUDAGeneratedOpKernel(function: try compiler.function(kernel), kernel: kernel)
        case .failure(let why): throw EmberError(.unsupported, "[cuda] \(why.message)")
        }
    }

    /// The faster, timed on scratch buffers, of two ways to run a convolution and its epilogue:
    /// as much of the epilogue as a cuDNN engine fuses (the rest generated), and the plain
    /// convolution followed by every epilogue step as one generated kernel. Each convolution
    /// first picks its own cuDNN plan by timing.
    fileprivate func convolution(_ plan: CUDAKernelPlan.ConvPlan, _ node: CUDANode) throws -> CUDAConvOpKernel {
        guard let dnn else { throw EmberError(.unsupported, "[cuda] \(dnnFailure ?? "cuDNN is unavailable")") }
        let precision: CUDAMatmulPrecision
        switch plan.dtype {
        case .f32: precision = allowTF32 ? .tf32 : .f32
        case .f16: precision = .f16
        default: precision = .bf16
        }
        func generated(_ epilogue: CUDAKernelPlan.Epilogue?) throws -> CUDAMatmulOpKernel.Epilogue? {
            try epilogue.map {
                CUDAMatmulOpKernel.Epilogue(
                    kernel: CUDAGeneratedOpKernel(function: try compiler.function($0.kernel), kernel: $0.kernel), reads: $0.reads)
            }
        }
        var options: [CUDAConvOpKernel] = []
        var fusionFailure: String?
        if !plan.epilogue.isEmpty {
            do {
                let fused = try CUDAConvolution(
                    dnn, shape: plan.shape, precision: precision, epilogue: plan.epilogue, maxCandidates: convolutionCandidates)
                try fused.tune(stream: tuning)
                options.append(CUDAConvOpKernel(
                    convolution: fused, x: plan.x, w: plan.w, bias: plan.bias, residual: plan.residual,
                    epilogue: try generated(plan.rest)))
            } catch {
                fusionFailure = "\(error)"
            }
        }
        do {
            let conv = try CUDAConvolution(dnn, shape: plan.shape, precision: precision, maxCandidates: convolutionCandidates)
            try conv.tune(stream: tuning)
            options.append(CUDAConvOpKernel(
                convolution: conv, x: plan.x, w: plan.w, bias: nil, residual: nil, epilogue: try generated(plan.unfused)))
        } catch {
            if options.isEmpty { throw error }
        }
        var times: [Double] = []
        if options.count > 1, let output = node.outputs.first {
            func scratch(_ t: CUDATensorType) throws -> CUDABuffer {
                let buffer = try CUDABuffer(context, bytes: max(4, t.count * t.dtype.byteSize))
                // 1.0 in every element: no NaN or overflow on any path.
                try buffer.fill(word: t.dtype == .f32 ? 0x3F80_0000 : t.dtype == .f16 ? 0x3C00_3C00 : 0x3F80_3F80)
                return buffer
            }
            let inputs = try node.inputs.compactMap { $0 }.map(scratch)
            let y = try scratch(output)
            times = options.map { kernel in
                (try? tuning.medianMilliseconds(warmup: 2, iterations: 10) { try kernel.run(inputs, [y], stream: tuning) })
                    ?? .infinity
            }
            try tuning.synchronize()
        }
        let best = times.indices.min { times[$0] < times[$1] } ?? 0
        var chosen = options[best]
        chosen.fusionFailure = fusionFailure
        chosen.alternatives = times.count > 1 ? times : nil
        return chosen
    }

    fileprivate func matmul(_ plan: CUDAKernelPlan.MatmulPlan) throws -> CUDAMatmul {
        guard let blas else { throw EmberError(.unsupported, "[cuda] \(blasFailure ?? "cuBLASLt is unavailable")") }
        let precision: CUDAMatmulPrecision = plan.dtype == .f32 && allowTF32 ? .tf32 : try plan.precision()
        return try CUDAMatmul(blas, shape: plan.shape, precision: precision, bias: plan.hasBias, activation: plan.activation)
    }
}

/// A generated kernel launched with the node's buffers.
struct CUDAGeneratedOpKernel: CUDAOpKernel {
    let function: CUDAFunction
    let kernel: CUDAGeneratedKernel

    private func input(_ index: Int, _ inputs: [CUDABuffer]) throws -> CUDABuffer {
        guard inputs.indices.contains(index) else {
            throw EmberError(.invalidArgument, "[cuda] kernel \(kernel.entry) reads input \(index) of \(inputs.count)")
        }
        return inputs[index]
    }

    func run(_ inputs: [CUDABuffer], _ outputs: [CUDABuffer], stream: CUDAStream) throws {
        let read = try kernel.reads.map { try $0.map { try input($0, inputs) } } ?? inputs
        try function.launch(
            grid: (kernel.blocks, 1, 1), block: (kernel.threadsPerBlock, 1, 1), sharedBytes: kernel.sharedBytes,
            stream: stream, (read + outputs).map { .buffer($0) })
    }
}

/// A cuBLASLt product; inputs are X, W and, when fused, the bias. Epilogue steps cuBLASLt cannot
/// run follow as a generated kernel over the output, in place.
public struct CUDAMatmulOpKernel: CUDAOpKernel {
    public let matmul: CUDAMatmul
    let epilogue: Epilogue?

    struct Epilogue {
        var kernel: CUDAGeneratedOpKernel
        /// The node's inputs the kernel reads after the product.
        var reads: [Int]
    }

    public func run(_ inputs: [CUDABuffer], _ outputs: [CUDABuffer], stream: CUDAStream) throws {
        let needed = max(matmul.hasBias ? 3 : 2, (epilogue?.reads.max() ?? 0) + 1)
        guard inputs.count >= needed, let y = outputs.first else {
            throw EmberError(.invalidArgument, "[cuda] matrix product given \(inputs.count) inputs and \(outputs.count) outputs")
        }
        try matmul.run(x: inputs[0], w: inputs[1], bias: matmul.hasBias ? inputs[2] : nil, y: y, stream: stream)
        if let epilogue {
            try epilogue.kernel.run([y] + epilogue.reads.map { inputs[$0] }, [y], stream: stream)
        }
    }

    /// Times cuBLASLt's candidate algorithms on these buffers and keeps the fastest.
    @discardableResult
    public func tune(_ inputs: [CUDABuffer], _ outputs: [CUDABuffer], stream: CUDAStream) throws -> [Double] {
        guard let y = outputs.first, inputs.count >= 2 else { return [] }
        return try matmul.tune(
            x: inputs[0], w: inputs[1], bias: matmul.hasBias && inputs.count > 2 ? inputs[2] : nil, y: y, stream: stream)
    }
}

/// A cuDNN convolution; inputs are the node's (X, W and what the epilogue reads), channels-last.
/// Epilogue steps cuDNN does not run follow as a generated kernel over the output, in place.
public struct CUDAConvOpKernel: CUDAOpKernel {
    public let convolution: CUDAConvolution
    let x: Int, w: Int
    /// The inputs cuDNN adds inside its kernel.
    let bias: Int?, residual: Int?
    let epilogue: CUDAMatmulOpKernel.Epilogue?
    /// Why the fused epilogue could not run on cuDNN, when it was tried and failed.
    public internal(set) var fusionFailure: String?
    /// The median milliseconds of the fused and the unfused way when both were timed.
    public internal(set) var alternatives: [Double]?

    init(
        convolution: CUDAConvolution, x: Int, w: Int, bias: Int?, residual: Int?, epilogue: CUDAMatmulOpKernel.Epilogue?
    ) {
        self.convolution = convolution
        (self.x, self.w, self.bias, self.residual) = (x, w, bias, residual)
        self.epilogue = epilogue
    }

    /// Which engine runs, what it fuses and what a generated kernel runs after it.
    public var summary: String {
        var text = "cuDNN engine \(convolution.engine) (\(convolution.candidateCount) timed): \(convolution.epilogue)"
            + (epilogue == nil ? "" : ", then a generated epilogue")
        if let alternatives, alternatives.count == 2 {
            let ms = alternatives.map { $0.isFinite ? String(format: "%.4f", $0) : "failed" }
            text += "; timed fused \(ms[0]) ms, unfused \(ms[1]) ms"
        }
        return text
    }

    public func run(_ inputs: [CUDABuffer], _ outputs: [CUDABuffer], stream: CUDAStream) throws {
        let used = [x, w] + [bias, residual].compactMap { $0 } + (epilogue?.reads ?? [])
        guard let y = outputs.first, let top = used.max(), top < inputs.count else {
            throw EmberError(.invalidArgument, "[cuda] convolution given \(inputs.count) inputs and \(outputs.count) outputs")
        }
        try convolution.run(
            x: inputs[x], w: inputs[w], bias: bias.map { inputs[$0] }, residual: residual.map { inputs[$0] }, y: y,
            stream: stream)
        if let epilogue {
            try epilogue.kernel.run([y] + epilogue.reads.map { inputs[$0] }, [y], stream: stream)
        }
    }
}
