import EmberCUDA
import EmberIR
import EmberOps
import EmberTestSupport

/// The outcome of one case: the error against the reference and the kernel's device time.
public struct CUDACheckResult: Sendable {
    public var name: String
    public var relativeError: Double
    public var tolerance: Double
    /// Median device milliseconds of one run; nil when not timed.
    public var milliseconds: Double?
    /// Bytes a memory-bound kernel must move, or the flops of a product.
    public var bytesMoved: Int
    public var flops: Double?

    public var passed: Bool { relativeError <= tolerance }

    /// GB/s for memory-bound kernels, TFLOP/s for products.
    public var rate: String {
        guard let ms = milliseconds, ms > 0 else { return "-" }
        if let flops { return "\(fixed(flops / ms / 1e9)) TFLOP/s" }
        return "\(fixed(Double(bytesMoved) / ms / 1e6)) GB/s"
    }
}

func fixed(_ x: Double, _ digits: Int = 1) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((x * scale).rounded())
    let whole = n / Int(scale)
    let frac = String(abs(n) % Int(scale))
    return digits == 0 ? "\(whole)" : "\(n < 0 && whole == 0 ? "-" : "")\(whole).\(String(repeating: "0", count: digits - frac.count))\(frac)"
}

/// Runs cases on one device: the CUDA kernel on poisoned outputs, then the reference.
public final class CUDACheckRunner: @unchecked Sendable {  // Used from one thread at a time.
    public let context: CUDAContext
    public let kernels: CUDAKernels
    public let tf32Kernels: CUDAKernels
    public let stream: CUDAStream

    /// A runner on device 0, or the reason there is none (no driver, no GPU, no NVRTC).
    public static func make(convolutionCandidates: Int = 8) -> Result<CUDACheckRunner, EmberError> {
        do {
            return .success(try CUDACheckRunner(convolutionCandidates: convolutionCandidates))
        } catch let error as EmberError {
            return .failure(error)
        } catch {
            return .failure(EmberError(.internalError, "\(error)"))
        }
    }

    public init(convolutionCandidates: Int = 8) throws {
        context = try CUDAContext(device: 0)
        kernels = try CUDAKernels(context, convolutionCandidates: convolutionCandidates)
        tf32Kernels = try CUDAKernels(context, allowTF32: true, convolutionCandidates: convolutionCandidates)
        stream = try CUDAStream(context)
    }

    /// Runs `check` on the device and the reference; times the kernel when `iterations` > 0.
    public func run(_ check: CUDACheckCase, iterations: Int = 0) throws -> CUDACheckResult {
        let node = try check.node()
        guard let outputType = node.outputs.first else {
            throw EmberError(.internalError, "[\(check.name)] has no output")
        }
        let provider = check.tf32 ? tf32Kernels : kernels
        if case .unsupported(let why) = provider.support(node) {
            throw EmberError(.unsupported, "[\(check.name)] not supported: \(why)")
        }
        let kernel = try provider.makeKernel(node)
        // Channels-last cases hold their 4-D tensors channels-last on the device.
        let inputs = try zip(check.inputs.compactMap { $0 }, node.inputs.compactMap { $0 }).map { tensor, type in
            guard type.layout == .channelsLast else { return try CUDABuffer(context, tensor: tensor) }
            let bytes = try CUDAGraphExecutor.channelsLast(tensor)
            let buffer = try CUDABuffer(context, bytes: bytes.count)
            try buffer.upload(bytes)
            return buffer
        }
        let output = try CUDABuffer(context, bytes: outputType.count * outputType.dtype.byteSize)
        if let matmul = kernel as? CUDAMatmulOpKernel { try matmul.tune(inputs, [output], stream: stream) }
        try output.fill()
        try kernel.run(inputs, [output], stream: stream)
        try stream.synchronize()
        let actual = outputType.layout == .channelsLast
            ? try CUDAGraphExecutor.rowMajor(try output.download(), outputType.dtype, shape: outputType.shape)
            : try output.tensor(outputType.dtype, shape: outputType.shape)
        let expected = try evaluateOp(check.op, check.inputs)[0]
        let error = actual.relativeError(to: expected) ?? .infinity
        var ms: Double? = nil
        if iterations > 0 {
            ms = try stream.medianMilliseconds(warmup: 3, iterations: iterations) {
                try kernel.run(inputs, [output], stream: stream)
            }
        }
        return CUDACheckResult(
            name: check.name, relativeError: error, tolerance: check.tolerance, milliseconds: ms,
            bytesMoved: check.bytesMoved(output: outputType), flops: check.flops)
    }
}
