import Dispatch
import EmberIR

/// N-d convolution (ONNX `Conv`): `X [N, C, spatial...]`, `W [M, C/group, kernel...]`, optional
/// bias `B [M]`, giving `Y [N, M, out...]`.
///
/// Evaluated as im2col followed by one batched matrix product per image and group, so f32
/// convolutions run on the fast f32 kernel; a 1x1 convolution with unit strides and no pads
/// reads its input directly.
///
///     conv(f32[batch, 3, 224, 224], f32[64, 3, 7, 7]) {strides = [2, 2], pads = [3, 3, 3, 3]}
///         -> f32[batch, 64, 112, 112]
public struct Conv: Operator {
    public static let name = "conv"
    public static let inputArity: ClosedRange<Int> = 2...3
    static let dtypes: Set<DType> = [.f64, .f32, .f16, .bf16]

    /// The window: kernel shape (else W's), strides, dilations, pads and auto_pad.
    public var window: WindowAttributes
    /// Groups of input channels, each convolved with its own `M / group` filters.
    public var group: Int

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])
        window = try WindowAttributes(attributes, op: Self.name)
        group = try attributes.int("group", default: 1)
        guard group >= 1 else { throw EmberError.op(Self.name, "attribute 'group' expected a positive value, received \(group)") }
    }

    public init(window: WindowAttributes, group: Int = 1) {
        precondition(group >= 1, "a convolution has at least one group")
        self.window = window
        self.group = group
    }

    public var attributes: Attributes { Attributes(op: Self.name, window.entries + [("group", .int(group))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (x, w) = (try inputs.type(0), try inputs.type(1))
        try x.expectDType(Self.dtypes, Self.name, input: "X")
        try Elementwise.expectSameDType(x.dtype, w.dtype, Self.name)
        if inputs.has(2) { try Elementwise.expectSameDType(x.dtype, try inputs.type(2).dtype, Self.name) }
        guard let xs = x.shape else { return [TensorType(x.dtype, nil)] }
        guard xs.count >= 3 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] X has rank \(xs.count), expected [N, C, spatial...] of rank 3 or more")
        }
        try w.expectRank(xs.count, Self.name, input: "W")
        let spatial = xs.count - 2
        var kernel = window.kernelShape
        if kernel.isEmpty, let ws = w.shape { kernel = ws.dropFirst(2).map { $0.value ?? 0 } }
        let m: Dim = w.shape?[0] ?? .unknown
        if let c = xs[1].value, let wc = w.shape?[1].value, c != wc * group {
            throw EmberError(.shapeMismatch, "[\(Self.name)] X has \(c) channels, expected W's \(wc) per group x \(group) groups")
        }
        guard kernel.count == spatial, kernel.allSatisfy({ $0 > 0 }) else {
            return [TensorType(x.dtype, [xs[0], m] + Array(repeating: .unknown, count: spatial))]
        }
        let out = try window.outputDims(input: Array(xs.dropFirst(2)), kernel: kernel, op: Self.name)
        return [TensorType(x.dtype, [xs[0], m] + out)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (x, w) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        let bias = inputs.optional(2)
        try x.expectDType(Self.dtypes, Self.name, input: "X")
        try Elementwise.expectSameDType(x.dtype, w.dtype, Self.name)
        let spatial = try WindowInput.spatial(x.shape, op: Self.name)
        guard w.rank == x.rank else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] W has shape \(w.shape), expected rank \(x.rank)")
        }
        let (n, c, m) = (x.shape[0], x.shape[1], w.shape[0])
        let kernel = Array(w.shape.dropFirst(2))
        guard kernel.allSatisfy({ $0 >= 1 }) else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] W has shape \(w.shape), expected a kernel of positive sizes")
        }
        if !window.kernelShape.isEmpty, window.kernelShape != kernel {
            throw EmberError(.shapeMismatch, "[\(Self.name)] kernel_shape \(window.kernelShape) differs from W's \(kernel)")
        }
        guard c % group == 0, m % group == 0, w.shape[1] * group == c else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] X has \(c) channels and W has shape \(w.shape), which do not split into \(group) groups")
        }
        if let bias {
            try Elementwise.expectSameDType(x.dtype, bias.dtype, Self.name)
            guard bias.shape == [m] else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] B has shape \(bias.shape), expected [\(m)]")
            }
        }
        let g = try window.geometry(input: spatial, kernel: kernel, op: Self.name)
        let work: DType = x.dtype == .f32 ? .f32 : .f64
        let xw = x.cast(to: work), ww = w.cast(to: work)
        let (cg, mg) = (c / group, m / group)
        let rows = cg * g.kernelCount
        let outCount = g.outputCount
        let products = n * group

        let direct = g.kernelCount == 1 && g.strides.allSatisfy { $0 == 1 } && g.input == g.output
        let columns: MatrixOperand
        if direct {
            // A 1x1 window over the whole input: X is already the column matrix.
            columns = MatrixOperand(
                tensor: xw, offsets: (0..<products).map { $0 * cg * outCount }, rowStride: outCount, colStride: 1)
        } else {
            columns = MatrixOperand(
                tensor: Im2Col.columns(xw, geometry: g, images: n, channels: c),
                offsets: (0..<products).map { $0 * rows * outCount }, rowStride: outCount, colStride: 1)
        }
        let weights = MatrixOperand(
            tensor: ww, offsets: (0..<products).map { ($0 % group) * mg * rows }, rowStride: rows, colStride: 1)
        var y = Tensor(shape: [n, m] + g.output, storage: MatrixProduct.multiply(weights, columns, m: mg, n: outCount, k: rows))
        if let bias { y = Self.addingBias(y, bias.cast(to: work), channels: m, plane: outCount) }
        return [y.cast(to: x.dtype)]
    }

    /// `y[n, m, ...] += bias[m]`.
    static func addingBias(_ y: Tensor, _ bias: Tensor, channels: Int, plane: Int) -> Tensor {
        var y = y
        switch (y.storage, bias.storage) {
        case (.f32(var v), .f32(let b)):
            v.withUnsafeMutableBufferPointer { v in
                for p in 0..<(v.count / max(plane, 1)) {
                    let value = b[p % channels]
                    for i in p * plane..<(p + 1) * plane { v[i] += value }
                }
            }
            y.storage = .f32(v)
        default:
            var v = y.doubles()
            let b = bias.doubles()
            for p in 0..<(v.count / max(plane, 1)) {
                for i in p * plane..<(p + 1) * plane { v[i] += b[p % channels] }
            }
            y = Tensor(y.dtype, shape: y.shape, doubles: v)
        }
        return y
    }
}

/// The column matrices of a convolution: for every image and channel, one row per kernel tap,
/// holding the input value each output position reads there (0 in the padding).
enum Im2Col {
    /// `[images, channels * taps, outputs]` of `x`'s dtype (f32 or f64).
    static func columns(_ x: Tensor, geometry g: WindowGeometry, images: Int, channels: Int) -> Tensor {
        let rows = images * channels * g.kernelCount
        let shape = [images, channels * g.kernelCount, g.outputCount]
        switch x.storage {
        case .f32(let v):
            return Tensor(shape: shape, storage: .f32(fill(v, rows: rows, geometry: g, zero: Float(0))))
        default:
            return Tensor(shape: shape, storage: .f64(fill(x.doubles(), rows: rows, geometry: g, zero: 0.0)))
        }
    }

    private static func fill<T: Sendable>(_ x: [T], rows: Int, geometry g: WindowGeometry, zero: T) -> [T] {
        let spatial = g.input.count
        let taps = (0..<spatial).map { g.taps(axis: $0) }
        let inStrides = Tensor.strides(of: g.input)
        let (outCount, kernelCount, inCount) = (g.outputCount, g.kernelCount, g.inputCount)
        let last = spatial - 1
        let lastOut = g.output[last]
        let outer = outCount / max(lastOut, 1)
        let outerShape = Array(g.output.dropLast())
        var out = [T](repeating: zero, count: rows * outCount)
        if out.isEmpty { return out }
        let chunk = max(1, rows / (GemmF32.threads * 4))
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let (srcBase, dstBase) = (SendableBuffer(src), SendablePointer(dst.baseAddress.unsafelyUnwrapped))
                DispatchQueue.concurrentPerform(iterations: (rows + chunk - 1) / chunk) { job in
                    let src = srcBase.buffer
                    var tap = [Int](repeating: 0, count: spatial)
                    var index = [Int](repeating: 0, count: max(spatial - 1, 0))
                    for row in job * chunk..<min(rows, (job + 1) * chunk) {
                        let plane = row / kernelCount
                        var t = row % kernelCount
                        for d in stride(from: spatial - 1, through: 0, by: -1) {
                            tap[d] = t % g.kernel[d]
                            t /= g.kernel[d]
                        }
                        let lastTaps = taps[last]
                        let lastBase = tap[last] * lastOut
                        let rowOut = dstBase.pointer + row * outCount
                        for d in index.indices { index[d] = 0 }
                        for o in 0..<outer {
                            // The input offset of this outer output position, or -1 in the padding.
                            var offset = plane * inCount
                            for d in 0..<(spatial - 1) {
                                let q = taps[d][tap[d] * g.output[d] + index[d]]
                                if q < 0 { offset = -1; break }
                                offset += q * inStrides[d]
                            }
                            let line = rowOut + o * lastOut
                            if offset >= 0 {
                                for j in 0..<lastOut {
                                    let q = lastTaps[lastBase + j]
                                    line[j] = q >= 0 ? src[offset + q] : zero
                                }
                            }
                            var d = spatial - 2
                            while d >= 0 {
                                index[d] += 1
                                if index[d] < outerShape[d] { break }
                                index[d] = 0
                                d -= 1
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A read-only buffer that may cross into `concurrentPerform` tasks.
struct SendableBuffer<T>: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<T>
    init(_ buffer: UnsafeBufferPointer<T>) { self.buffer = buffer }
}
