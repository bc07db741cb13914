import Dispatch
import EmberCUDA
import EmberIR
import EmberOps
import EmberTestSupport

/// One cuDNN convolution on random inputs: channels-last buffers on the device, checked against
/// the reference evaluation of the same op (NCHW, on the host) and timed.
public struct CUDAConvCase: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: CUDAConvShape
    public var epilogue: CUDAConvEpilogue
    public var tf32 = false
    /// The largest relative error accepted (largest difference over the largest reference magnitude).
    public var tolerance: Double
    /// How many images the reference checks (the first and the last when 2): the reference runs
    /// on the host, too slowly for whole batches of large layers.
    public var checkedImages = 2

    public init(
        _ name: String, _ dtype: DType, _ shape: CUDAConvShape, _ epilogue: CUDAConvEpilogue, tf32: Bool = false,
        tolerance: Double? = nil
    ) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.epilogue = epilogue
        self.tf32 = tf32
        self.tolerance = tolerance ?? (dtype == .f32 ? (tf32 ? 5e-3 : 1e-4) : 1e-2)
    }

    /// The op the graph would hold: `conv(X, W, B?)`, or a `fused_epilogue` of the conv, the
    /// residual add and relu, as the optimizer writes it.
    public func op() throws -> any Operator {
        let s = shape
        let conv = try Conv(attributes: Attributes(op: Conv.name, [
            ("kernel_shape", .ints(s.kernel)), ("strides", .ints(s.strides)), ("dilations", .ints(s.dilations)),
            ("pads", .ints(s.padBegin + s.padEnd)), ("group", .int(s.groups)),
        ]))
        guard epilogue.residual || epilogue.relu else { return conv }
        let b = epilogue.bias ? 1 : 0
        var steps = [FusedBody.Step(op: conv, operands: [.input(0), .input(1)] + (epilogue.bias ? [.input(2)] : []))]
        if epilogue.residual { steps.append(FusedBody.Step(op: Add(), operands: [.step(0), .input(2 + b)])) }
        if epilogue.relu { steps.append(FusedBody.Step(op: Relu(), operands: [.step(steps.count - 1)])) }
        return try FusedEpilogue(FusedBody(steps, op: FusedEpilogue.name))
    }

    /// X, W, the bias and the residual, as the op reads them (NCHW), with values of magnitude
    /// about 1 after the convolution.
    public func inputs(seed: UInt64) -> [Tensor] {
        let s = shape
        let fanIn = Double(s.channels / s.groups * s.kernel.reduce(1, *))
        let w = 1.7 / fanIn.squareRoot()
        var tensors = [Tensor.random(dtype, s.input, in: -1...1, seed: seed), Tensor.random(dtype, s.weight, in: -w...w, seed: seed + 1)]
        if epilogue.bias { tensors.append(Tensor.random(dtype, [s.outChannels], in: -0.5...0.5, seed: seed + 2)) }
        if epilogue.residual { tensors.append(Tensor.random(dtype, s.result, in: -1...1, seed: seed + 3)) }
        return tensors
    }
}

/// The outcome of one convolution case.
public struct CUDAConvResult: Sendable {
    public var name: String
    public var relativeError: Double?
    public var tolerance: Double
    public var milliseconds: Double?
    public var flops: Double
    /// Which cuDNN engine ran and what it fused.
    public var summary: String
    /// Seconds spent building the kernel: cuDNN's plans, and timing them.
    public var buildSeconds: Double
    public var passed: Bool { (relativeError ?? 0) <= tolerance }
    public var rate: String {
        guard let ms = milliseconds, ms > 0 else { return "-" }
        return "\(fixed(flops / ms / 1e9)) TFLOP/s"
    }
}

extension CUDACheckRunner {
    /// Runs `check` through the CUDA provider (which picks the cuDNN plan by timing), compares
    /// `check.checkedImages` images with the reference (none: timed only) and times the kernel
    /// when `iterations` > 0.
    public func run(_ check: CUDAConvCase, iterations: Int, seed: UInt64 = 300) throws -> CUDAConvResult {
        let op = try check.op()
        let tensors = check.inputs(seed: seed)
        // Every 4-D tensor is channels-last on the device; the bias is a plain vector.
        let types = tensors.map { t in CUDATensorType(t.dtype, t.shape, layout: .channelsLast) }
        let output = CUDATensorType(check.dtype, check.shape.result, layout: .channelsLast)
        let node = CUDANode(op: op, name: check.name, inputs: types, outputs: [output])
        let provider = check.tf32 ? tf32Kernels : kernels
        if case .unsupported(let why) = provider.support(node) {
            throw EmberError(.unsupported, "[\(check.name)] not supported: \(why)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        guard let kernel = try provider.makeKernel(node) as? CUDAConvOpKernel else {
            throw EmberError(.internalError, "[\(check.name)] the provider did not make a convolution kernel")
        }
        let buffers = try tensors.map { t in
            let bytes = t.shape.count == 4 ? try CUDAGraphExecutor.channelsLast(t) : t.bytes()
            let buffer = try CUDABuffer(context, bytes: bytes.count)
            try buffer.upload(bytes)
            return buffer
        }
        let buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let y = try CUDABuffer(context, bytes: output.count * output.dtype.byteSize)
        try y.fill()
        try kernel.run(buffers, [y], stream: stream)
        try stream.synchronize()

        var error: Double? = nil
        if check.checkedImages > 0 {
            let n = check.shape.batch
            let images = check.checkedImages >= n ? Array(0..<n) : [0, n - 1].prefix(check.checkedImages).map { $0 }
            let actual = try CUDAGraphExecutor.rowMajor(try y.download(), output.dtype, shape: output.shape)
            let picked = try tensors.map { t in t.shape.count == 4 && t.shape[0] == n ? try Self.images(t, images) : t }
            let expected = try evaluateOp(op, picked)[0]
            error = try Self.images(actual, images).relativeError(to: expected) ?? .infinity
        }
        var ms: Double? = nil
        if iterations > 0 {
            ms = try stream.medianMilliseconds(warmup: 3, iterations: iterations) {
                try kernel.run(buffers, [y], stream: stream)
            }
        }
        let summary = kernel.summary + (kernel.fusionFailure.map { "; not fused: \($0.prefix(160))" } ?? "")
        return CUDAConvResult(
            name: check.name, relativeError: error, tolerance: check.tolerance, milliseconds: ms, flops: check.shape.flops,
            summary: summary, buildSeconds: buildSeconds)
    }

    /// The images `which` of a batch [N, ...].
    static func images(_ t: Tensor, _ which: [Int]) throws -> Tensor {
        let bytes = t.bytes()
        let per = bytes.count / max(t.shape[0], 1)
        var out: [UInt8] = []
        for i in which { out += bytes[(i * per)..<((i + 1) * per)] }
        return try Tensor(t.dtype, shape: [which.count] + t.shape.dropFirst(), bytes: out)
    }
}

/// The convolutions every device check runs.
public enum CUDAConvCases {
    static func shape(
        _ n: Int, _ c: Int, _ hw: Int, _ k: Int, _ r: Int, stride: Int = 1, pad: Int? = nil, dilation: Int = 1, groups: Int = 1
    ) -> CUDAConvShape {
        let p = pad ?? (r / 2) * dilation
        return CUDAConvShape(
            batch: n, channels: c, height: hw, width: hw, outChannels: k, kernel: [r, r], strides: [stride, stride],
            dilations: [dilation, dilation], padBegin: [p, p], groups: groups)
    }

    static let biasRelu = CUDAConvEpilogue(bias: true, relu: true)
    static let bias = CUDAConvEpilogue(bias: true)
    static let residual = CUDAConvEpilogue(bias: true, residual: true, relu: true)

    /// Correctness: ResNet-50's 7x7/2 stem, a 3x3, a 1x1/2 downsample, the bottleneck's last 1x1
    /// with the residual add, and a depthwise 3x3, in f32, f16 and bf16; then tf32, a dilated
    /// and a grouped convolution, and one with no epilogue.
    public static func correctness() -> [CUDAConvCase] {
        var cases: [CUDAConvCase] = []
        for dtype in [DType.f32, .f16, .bf16] {
            cases.append(CUDAConvCase("stem 7x7/2 3->64 @224 +bias+relu \(dtype) n1", dtype, shape(1, 3, 224, 64, 7, stride: 2), biasRelu))
            cases.append(CUDAConvCase("3x3 64->64 @56 +bias+relu \(dtype) n2", dtype, shape(2, 64, 56, 64, 3), biasRelu))
            cases.append(CUDAConvCase("1x1/2 256->512 @56 +bias \(dtype) n2", dtype, shape(2, 256, 56, 512, 1, stride: 2), bias))
            cases.append(CUDAConvCase("1x1 64->256 @56 +bias+residual+relu \(dtype) n2", dtype, shape(2, 64, 56, 256, 1), residual))
            cases.append(CUDAConvCase("depthwise 3x3 128 @28 +bias+relu \(dtype) n2", dtype, shape(2, 128, 28, 128, 3, groups: 128), biasRelu))
        }
        cases.append(CUDAConvCase("3x3 64->64 @56 +bias+relu tf32 n2", .f32, shape(2, 64, 56, 64, 3), biasRelu, tf32: true))
        cases.append(CUDAConvCase("3x3 dilation 2 64->64 @28 +bias+relu f16 n2", .f16, shape(2, 64, 28, 64, 3, dilation: 2), biasRelu))
        cases.append(CUDAConvCase("3x3 groups 4 128->128 @14 f32 n2", .f32, shape(2, 128, 14, 128, 3, groups: 4), .none))
        cases.append(CUDAConvCase("3x3/2 pads 0,1 32->48 @15 +bias f16 n3", .f16, CUDAConvShape(
            batch: 3, channels: 32, height: 15, width: 15, outChannels: 48, kernel: [3, 3], strides: [2, 2],
            padBegin: [0, 0], padEnd: [1, 1]), bias))
        return cases
    }

    /// ResNet-50's convolution layers (batch norm folded into a bias), in f16 at `batch`, with
    /// the epilogue each has in the network; two images of each are checked.
    public static func resnet50(batch n: Int) -> [CUDAConvCase] {
        let layers: [(String, CUDAConvShape, CUDAConvEpilogue)] = [
            ("stem 7x7/2 3->64 @224 +bias+relu", shape(n, 3, 224, 64, 7, stride: 2), biasRelu),
            ("layer1 1x1 256->64 @56 +bias+relu", shape(n, 256, 56, 64, 1), biasRelu),
            ("layer1 3x3 64->64 @56 +bias+relu", shape(n, 64, 56, 64, 3), biasRelu),
            ("layer1 1x1 64->256 @56 +bias+residual+relu", shape(n, 64, 56, 256, 1), residual),
            ("layer2 downsample 1x1/2 256->512 @56 +bias", shape(n, 256, 56, 512, 1, stride: 2), bias),
            ("layer2 3x3/2 128->128 @56 +bias+relu", shape(n, 128, 56, 128, 3, stride: 2), biasRelu),
            ("layer3 3x3 256->256 @14 +bias+relu", shape(n, 256, 14, 256, 3), biasRelu),
            ("layer4 1x1 512->2048 @7 +bias+residual+relu", shape(n, 512, 7, 2048, 1), residual),
            ("layer4 3x3 512->512 @7 +bias+relu", shape(n, 512, 7, 512, 3), biasRelu),
        ]
        return layers.map { CUDAConvCase("\($0.0) f16 n\(n)", .f16, $0.1, $0.2) }
    }
}
