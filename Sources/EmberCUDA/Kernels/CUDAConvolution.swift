import EmberCUDADriver
import EmberIR

/// The sizes of a 2-D convolution: `Y[N, K, P, Q] = conv(X[N, C, H, W], W[K, C/groups, R, S])`.
/// Dims are named in NCHW order; the buffers hold them channels-last (NHWC, and KRSC for W).
public struct CUDAConvShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int, channels: Int, height: Int, width: Int
    public var outChannels: Int
    /// [R, S]
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var padBegin: [Int]
    public var padEnd: [Int]
    public var groups: Int

    public init(
        batch: Int, channels: Int, height: Int, width: Int, outChannels: Int, kernel: [Int], strides: [Int] = [1, 1],
        dilations: [Int] = [1, 1], padBegin: [Int] = [0, 0], padEnd: [Int]? = nil, groups: Int = 1
    ) {
        (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
        self.outChannels = outChannels
        self.kernel = kernel
        self.strides = strides
        self.dilations = dilations
        self.padBegin = padBegin
        self.padEnd = padEnd ?? padBegin
        self.groups = groups
    }

    /// [P, Q]
    public var output: [Int] {
        (0..<2).map { i in
            let input = i == 0 ? height : width
            let span = (kernel[i] - 1) * dilations[i] + 1
            return (input + padBegin[i] + padEnd[i] - span) / strides[i] + 1
        }
    }

    public var input: [Int] { [batch, channels, height, width] }
    public var weight: [Int] { [outChannels, channels / groups] + kernel }
    public var result: [Int] { [batch, outChannels] + output }

    /// Multiply-adds counted twice.
    public var flops: Double {
        2 * Double(batch * outChannels) * Double(output.reduce(1, *)) * Double(channels / groups * kernel.reduce(1, *))
    }

    /// Why cuDNN cannot be asked for this shape, or nil.
    var invalid: String? {
        let counts = [batch, channels, height, width, outChannels, groups] + kernel + strides + dilations
        guard kernel.count == 2, strides.count == 2, dilations.count == 2, padBegin.count == 2, padEnd.count == 2 else {
            return "expected 2 spatial dims"
        }
        guard counts.allSatisfy({ $0 > 0 }), (padBegin + padEnd).allSatisfy({ $0 >= 0 }) else { return "empty or negative sizes" }
        guard channels % groups == 0, outChannels % groups == 0 else {
            return "\(channels) and \(outChannels) channels do not split into \(groups) groups"
        }
        guard output.allSatisfy({ $0 > 0 }) else { return "the window is larger than the padded input" }
        return nil
    }

    public var description: String {
        let window = "\(kernel[0])x\(kernel[1])" + (strides == [1, 1] ? "" : "/\(strides[0])")
        return "\(batch)x\(channels)x\(height)x\(width) -> \(outChannels), \(window)" + (groups > 1 ? " g\(groups)" : "")
    }
}

/// What a convolution adds after the product, inside cuDNN's kernel:
/// `Y = relu?(conv(X, W) + bias?[K] + residual?[N, K, P, Q])`, computed in f32 and rounded once.
public struct CUDAConvEpilogue: Hashable, Sendable, CustomStringConvertible {
    public var bias: Bool
    public var residual: Bool
    public var relu: Bool

    public init(bias: Bool = false, residual: Bool = false, relu: Bool = false) {
        (self.bias, self.residual, self.relu) = (bias, residual, relu)
    }

    public static let none = CUDAConvEpilogue()
    public var isEmpty: Bool { !bias && !residual && !relu }

    public var description: String {
        (["conv"] + (bias ? ["bias"] : []) + (residual ? ["residual"] : []) + (relu ? ["relu"] : [])).joined(separator: "+")
    }
}

/// A 2-D convolution (grouped, strided, dilated, padded) on channels-last tensors through cuDNN's
/// graph API, with its bias, residual add and relu fused into the same kernel when an engine
/// supports it. The engine configurations cuDNN's heuristics propose are built as execution
/// plans; `tune` times them on the device and keeps the fastest, with a workspace of its size.
///
///     let conv = try CUDAConvolution(cudnn, shape: shape, precision: .f16, epilogue: .init(bias: true, relu: true))
///     try conv.tune(stream: stream)
///     try conv.run(x: x, w: w, bias: b, residual: nil, y: y, stream: stream)
public final class CUDAConvolution: @unchecked Sendable {  // Set up and tuned once; runs are serialized by the caller.
    public let cudnn: CUDNNHandle
    public let shape: CUDAConvShape
    public let precision: CUDAMatmulPrecision
    public let epilogue: CUDAConvEpilogue
    private var candidates: [Candidate] = []
    public private(set) var chosen = 0
    private var workspace: CUDABuffer?
    /// The variant pack of the last run's buffers, reused while they stay the same.
    private var pack: (key: [CUdeviceptr], descriptor: CUDNNDescriptor)?

    struct Candidate {
        var plan: CUDNNDescriptor
        var workspaceBytes: Int
        /// cuDNN's engine number, for reports.
        var engine: Int
    }

    /// Tensor ids in the variant pack.
    private enum UID: Int64 { case x = 1, w = 2, y = 3, bias = 4, residual = 5 }

    /// Builds the plans of up to `maxCandidates` engine configurations that cuDNN proposes and
    /// that keep Ember's numerics (f32 accumulation; tf32 only when the precision asks for it).
    /// Throws `.unsupported` when no engine runs this convolution.
    public init(
        _ cudnn: CUDNNHandle, shape: CUDAConvShape, precision: CUDAMatmulPrecision, epilogue: CUDAConvEpilogue = .none,
        maxCandidates: Int = 8, workspaceLimit: Int = 256 << 20
    ) throws {
        if let why = shape.invalid { throw EmberError(.invalidArgument, "[cudnn] convolution \(shape): \(why)") }
        self.cudnn = cudnn
        self.shape = shape
        self.precision = precision
        self.epilogue = epilogue
        try cudnn.context.bind()
        let graph = try Self.operationGraph(cudnn, shape, precision, epilogue)
        var failures: [String] = []
        for mode in [EMBER_CUDNN_HEUR_MODE_A, EMBER_CUDNN_HEUR_MODE_FALLBACK] where candidates.count < maxCandidates {
            let configs: [CUDNNDescriptor]
            do {
                let heuristics = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR)
                try heuristics.set(EMBER_CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, descriptors: [graph])
                try heuristics.set(EMBER_CUDNN_ATTR_ENGINEHEUR_MODE, enum: EMBER_CUDNN_TYPE_HEUR_MODE, mode)
                try heuristics.finalize()
                configs = try heuristics.descriptors(
                    EMBER_CUDNN_ATTR_ENGINEHEUR_RESULTS, of: EMBER_CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)
            } catch {
                failures.append("heuristics \(mode): \(error)")
                continue
            }
            for config in configs where candidates.count < maxCandidates {
                do {
                    guard let engine = try Self.acceptedEngine(config, precision) else { continue }
                    // The fallback list repeats engines the first one proposed.
                    if mode == EMBER_CUDNN_HEUR_MODE_FALLBACK, engine >= 0, candidates.contains(where: { $0.engine == engine }) {
                        continue
                    }
                    let plan = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR)
                    try plan.set(EMBER_CUDNN_ATTR_EXECUTION_PLAN_HANDLE, handle: cudnn)
                    try plan.set(EMBER_CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, descriptors: [config])
                    try plan.finalize()
                    let bytes = try plan.int64(EMBER_CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE)
                    guard bytes <= workspaceLimit else { continue }
                    candidates.append(Candidate(plan: plan, workspaceBytes: bytes, engine: engine))
                } catch {
                    if failures.count < 3 { failures.append("\(error)") }
                }
            }
        }
        guard !candidates.isEmpty else {
            throw EmberError(
                .unsupported,
                "[cudnn] no engine for a \(precision) \(epilogue) of \(shape)"
                    + (failures.isEmpty ? "" : ": " + failures.joined(separator: "; ")))
        }
        try sizeWorkspace(candidates.map(\.workspaceBytes).max() ?? 0)
    }

    /// How many plans were built, and the engine of the one that runs.
    public var candidateCount: Int { candidates.count }
    public var engine: Int { candidates[chosen].engine }

    /// Queues the convolution on `stream`. Buffers are channels-last, of the precision's dtype:
    /// X [N,H,W,C], W [K,R,S,C/groups], bias [K], residual and Y [N,P,Q,K].
    public func run(
        x: CUDABuffer, w: CUDABuffer, bias: CUDABuffer?, residual: CUDABuffer?, y: CUDABuffer, stream: CUDAStream
    ) throws {
        try run(candidate: chosen, x: x, w: w, bias: bias, residual: residual, y: y, stream: stream)
    }

    /// Times every plan on scratch buffers (or the given ones) and keeps the fastest; returns
    /// each plan's median milliseconds (infinity for one that failed to run).
    @discardableResult
    public func tune(stream: CUDAStream, iterations: Int = 5) throws -> [Double] {
        let size = precision.dtype.byteSize
        let one: UInt32 = precision.dtype == .f32 ? 0x3F80_0000 : precision.dtype == .f16 ? 0x3C00_3C00 : 0x3F80_3F80
        func scratch(_ shape: [Int]) throws -> CUDABuffer {
            let buffer = try CUDABuffer(cudnn.context, bytes: max(4, shape.reduce(size, *)))
            try buffer.fill(word: one)
            return buffer
        }
        let x = try scratch(shape.input), w = try scratch(shape.weight), y = try scratch(shape.result)
        let bias = epilogue.bias ? try scratch([shape.outChannels]) : nil
        let residual = epilogue.residual ? try scratch(shape.result) : nil
        var times: [Double] = []
        for candidate in candidates.indices {
            let time = try? stream.medianMilliseconds(warmup: 1, iterations: iterations) {
                try run(candidate: candidate, x: x, w: w, bias: bias, residual: residual, y: y, stream: stream)
            }
            times.append(time ?? .infinity)
        }
        try stream.synchronize()
        pack = nil
        guard let best = times.indices.min(by: { times[$0] < times[$1] }), times[best].isFinite else {
            throw EmberError(.internalError, "[cudnn] no plan ran for a \(precision) \(epilogue) of \(shape)")
        }
        chosen = best
        try sizeWorkspace(candidates[best].workspaceBytes)
        return times
    }

    private func sizeWorkspace(_ bytes: Int) throws {
        if workspace?.byteCount == bytes { return }
        workspace = nil
        workspace = bytes > 0 ? try CUDABuffer(cudnn.context, bytes: bytes) : nil
    }

    private func run(
        candidate: Int, x: CUDABuffer, w: CUDABuffer, bias: CUDABuffer?, residual: CUDABuffer?, y: CUDABuffer,
        stream: CUDAStream
    ) throws {
        let size = precision.dtype.byteSize
        var need: [(String, CUDABuffer?, [Int])] = [("X", x, shape.input), ("W", w, shape.weight), ("Y", y, shape.result)]
        if epilogue.bias { need.append(("bias", bias, [shape.outChannels])) }
        if epilogue.residual { need.append(("residual", residual, shape.result)) }
        for (name, buffer, dims) in need {
            let want = dims.reduce(size, *)
            guard let buffer, buffer.byteCount >= want else {
                throw EmberError(.invalidArgument, "[cudnn] \(name) needs \(want) bytes, has \(buffer?.byteCount ?? 0)")
            }
        }
        var uids: [Int64] = [UID.x.rawValue, UID.w.rawValue, UID.y.rawValue]
        var addresses = [x.address, w.address, y.address]
        if epilogue.bias, let bias { uids.append(UID.bias.rawValue); addresses.append(bias.address) }
        if epilogue.residual, let residual { uids.append(UID.residual.rawValue); addresses.append(residual.address) }
        let space = candidates[candidate].workspaceBytes > 0 ? workspace?.address ?? 0 : 0
        let key = addresses + [space, CUdeviceptr(candidate)]
        let variants: CUDNNDescriptor
        if let pack, pack.key == key {
            variants = pack.descriptor
        } else {
            variants = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)
            try variants.set(EMBER_CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, EMBER_CUDNN_TYPE_INT64, uids)
            try variants.set(
                EMBER_CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, EMBER_CUDNN_TYPE_VOID_PTR,
                addresses.map { UnsafeMutableRawPointer(bitPattern: UInt($0)) })
            try variants.set(
                EMBER_CUDNN_ATTR_VARIANT_PACK_WORKSPACE, EMBER_CUDNN_TYPE_VOID_PTR, [UnsafeMutableRawPointer(bitPattern: UInt(space))])
            try variants.finalize()
            pack = (key, variants)
        }
        try cudnn.bind(to: stream)
        try CUDAStatus.checkCUDNN(
            ember_cudnnBackendExecute(cudnn.handle, candidates[candidate].plan.handle, variants.handle), "cudnnBackendExecute")
    }

    /// The engine number of `config` when its numerics are acceptable for `precision`, else nil:
    /// no inputs rounded below their type, no reduction below f32, and tensor cores for f32 data
    /// only when tf32 is allowed.
    private static func acceptedEngine(_ config: CUDNNDescriptor, _ precision: CUDAMatmulPrecision) throws -> Int? {
        guard let engine = try config.descriptors(EMBER_CUDNN_ATTR_ENGINECFG_ENGINE, of: EMBER_CUDNN_BACKEND_ENGINE_DESCRIPTOR).first
        else { return nil }
        let notes = try engine.enums(EMBER_CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, type: EMBER_CUDNN_TYPE_NUMERICAL_NOTE)
        if notes.contains(EMBER_CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) { return nil }
        if notes.contains(EMBER_CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) { return nil }
        if precision == .f32, notes.contains(EMBER_CUDNN_NUMERICAL_NOTE_TENSOR_CORE) { return nil }
        return (try? engine.int64(EMBER_CUDNN_ATTR_ENGINE_GLOBAL_INDEX)) ?? -1
    }

    /// conv -> (+ bias) -> (+ residual) -> (relu), intermediates virtual and f32.
    private static func operationGraph(
        _ cudnn: CUDNNHandle, _ s: CUDAConvShape, _ precision: CUDAMatmulPrecision, _ epilogue: CUDAConvEpilogue
    ) throws -> CUDNNDescriptor {
        let type = precision.cudnnDataType
        let x = try tensor(UID.x.rawValue, s.input, type)
        let w = try tensor(UID.w.rawValue, s.weight, type)
        let bias = try tensor(UID.bias.rawValue, [1, s.outChannels, 1, 1], type)
        let residual = try tensor(UID.residual.rawValue, s.result, type)
        let y = try tensor(UID.y.rawValue, s.result, type)
        let steps = (epilogue.bias ? 1 : 0) + (epilogue.residual ? 1 : 0) + (epilogue.relu ? 1 : 0)
        var nextVirtual: Int64 = 100
        // The output of the step numbered `k` (0 is the convolution): Y for the last.
        func result(_ k: Int) throws -> CUDNNDescriptor {
            if k == steps { return y }
            nextVirtual += 1
            return try tensor(nextVirtual, s.result, EMBER_CUDNN_DATA_FLOAT, virtual: true)
        }

        let description = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR)
        try description.set(EMBER_CUDNN_ATTR_CONVOLUTION_COMP_TYPE, enum: EMBER_CUDNN_TYPE_DATA_TYPE, EMBER_CUDNN_DATA_FLOAT)
        try description.set(
            EMBER_CUDNN_ATTR_CONVOLUTION_CONV_MODE, enum: EMBER_CUDNN_TYPE_CONVOLUTION_MODE, EMBER_CUDNN_CROSS_CORRELATION)
        try description.set(EMBER_CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, int64: [2])
        try description.set(EMBER_CUDNN_ATTR_CONVOLUTION_DILATIONS, int64: s.dilations)
        try description.set(EMBER_CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, int64: s.strides)
        try description.set(EMBER_CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, int64: s.padBegin)
        try description.set(EMBER_CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, int64: s.padEnd)
        try description.finalize()

        var operations: [CUDNNDescriptor] = []
        var current = try result(0)
        let conv = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR)
        try conv.set(EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, descriptors: [x])
        try conv.set(EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, descriptors: [w])
        try conv.set(EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, descriptors: [current])
        try conv.set(EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, descriptors: [description])
        try conv.set(EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, EMBER_CUDNN_TYPE_FLOAT, [Float(1)])
        try conv.set(EMBER_CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, EMBER_CUDNN_TYPE_FLOAT, [Float(0)])
        try conv.finalize()
        operations.append(conv)

        var k = 0
        func pointwise(_ mode: Int32, _ operand: CUDNNDescriptor?) throws {
            k += 1
            let out = try result(k)
            let math = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_POINTWISE_DESCRIPTOR)
            try math.set(EMBER_CUDNN_ATTR_POINTWISE_MODE, enum: EMBER_CUDNN_TYPE_POINTWISE_MODE, mode)
            try math.set(EMBER_CUDNN_ATTR_POINTWISE_MATH_PREC, enum: EMBER_CUDNN_TYPE_DATA_TYPE, EMBER_CUDNN_DATA_FLOAT)
            try math.finalize()
            let op = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR)
            try op.set(EMBER_CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, descriptors: [math])
            try op.set(EMBER_CUDNN_ATTR_OPERATION_POINTWISE_XDESC, descriptors: [current])
            if let operand { try op.set(EMBER_CUDNN_ATTR_OPERATION_POINTWISE_BDESC, descriptors: [operand]) }
            try op.set(EMBER_CUDNN_ATTR_OPERATION_POINTWISE_YDESC, descriptors: [out])
            try op.finalize()
            operations.append(op)
            current = out
        }
        if epilogue.bias { try pointwise(EMBER_CUDNN_POINTWISE_ADD, bias) }
        if epilogue.residual { try pointwise(EMBER_CUDNN_POINTWISE_ADD, residual) }
        if epilogue.relu { try pointwise(EMBER_CUDNN_POINTWISE_RELU_FWD, nil) }

        let graph = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR)
        try graph.set(EMBER_CUDNN_ATTR_OPERATIONGRAPH_HANDLE, handle: cudnn)
        try graph.set(EMBER_CUDNN_ATTR_OPERATIONGRAPH_OPS, descriptors: operations)
        try graph.finalize()
        return graph
    }

    /// A tensor of NCHW-ordered `dims` laid out channels-last: strides [HWC, 1, WC, C].
    private static func tensor(_ uid: Int64, _ dims: [Int], _ type: Int32, virtual: Bool = false) throws -> CUDNNDescriptor {
        let (c, h, w) = (dims[1], dims[2], dims[3])
        let t = try CUDNNDescriptor(EMBER_CUDNN_BACKEND_TENSOR_DESCRIPTOR)
        try t.set(EMBER_CUDNN_ATTR_TENSOR_DATA_TYPE, enum: EMBER_CUDNN_TYPE_DATA_TYPE, type)
        try t.set(EMBER_CUDNN_ATTR_TENSOR_DIMENSIONS, int64: dims)
        try t.set(EMBER_CUDNN_ATTR_TENSOR_STRIDES, int64: [h * w * c, 1, w * c, c])
        try t.set(EMBER_CUDNN_ATTR_TENSOR_UNIQUE_ID, EMBER_CUDNN_TYPE_INT64, [uid])
        // Device allocations are 256-byte aligned; Ember hands cuDNN whole buffers.
        try t.set(EMBER_CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, int64: [16])
        try t.set(EMBER_CUDNN_ATTR_TENSOR_IS_VIRTUAL, EMBER_CUDNN_TYPE_BOOLEAN, [virtual])
        try t.finalize()
        return t
    }
}

extension CUDAMatmulPrecision {
    var cudnnDataType: Int32 {
        switch self {
        case .f32, .tf32: EMBER_CUDNN_DATA_FLOAT
        case .f16: EMBER_CUDNN_DATA_HALF
        case .bf16: EMBER_CUDNN_DATA_BFLOAT16
        }
    }
}
