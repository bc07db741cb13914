import Dispatch
import EmberIR

/// N-d transposed convolution (ONNX `ConvTranspose`): `X [N, C, in...]`, `W [C, M/group, kernel...]`,
/// optional bias `B [M]`, giving `Y [N, M, out...]` where, per spatial axis,
/// `out = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end`,
/// or `output_shape` when given (the pads then follow from it).
///
/// Evaluated as one batched matrix product `W^T x X` per image and group, then col2im.
public struct ConvTranspose: Operator {
    public static let name = "conv_transpose"
    public static let inputArity: ClosedRange<Int> = 2...3

    /// The window: kernel shape (else W's), strides, dilations, pads and auto_pad.
    public var window: WindowAttributes
    /// Groups of input channels, each with its own `M / group` output channels.
    public var group: Int
    /// Added to the end of every spatial output size; empty for none.
    public var outputPadding: [Int]
    /// The spatial output sizes (optionally with N and C in front), from which the pads then
    /// follow; empty when the output size follows from the pads.
    public var outputShape: [Int]

    public init(attributes: Attributes) throws {
        try attributes.expectOnly([
            "auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides",
        ])
        window = try WindowAttributes(attributes, op: Self.name)
        group = try attributes.int("group", default: 1)
        outputPadding = try attributes.ints("output_padding") ?? []
        outputShape = try attributes.ints("output_shape") ?? []
        guard group >= 1 else { throw EmberError.op(Self.name, "attribute 'group' expected a positive value, received \(group)") }
        guard outputPadding.allSatisfy({ $0 >= 0 }), outputShape.allSatisfy({ $0 >= 0 }) else {
            throw EmberError.op(Self.name, "attributes 'output_padding' and 'output_shape' expected values >= 0, received \(outputPadding) and \(outputShape)")
        }
    }

    public var attributes: Attributes {
        Attributes(op: Self.name, window.entries + [
            ("group", .int(group)), ("output_padding", .ints(outputPadding)), ("output_shape", .ints(outputShape)),
        ])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (x, w) = (try inputs.type(0), try inputs.type(1))
        try x.expectDType(Conv.dtypes, Self.name, input: "X")
        try Elementwise.expectSameDType(x.dtype, w.dtype, Self.name)
        if inputs.has(2) { try Elementwise.expectSameDType(x.dtype, try inputs.type(2).dtype, Self.name) }
        guard let xs = x.shape else { return [TensorType(x.dtype, nil)] }
        guard xs.count >= 3 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] X has rank \(xs.count), expected [N, C, spatial...] of rank 3 or more")
        }
        try w.expectRank(xs.count, Self.name, input: "W")
        let spatial = xs.count - 2
        let m: Dim = w.shape?[1].value.map { .known($0 * group) } ?? .unknown
        var kernel = window.kernelShape
        if kernel.isEmpty, let ws = w.shape { kernel = ws.dropFirst(2).map { $0.value ?? 0 } }
        var out = [Dim](repeating: .unknown, count: spatial)
        let input = xs.dropFirst(2).map(\.value)
        if kernel.count == spatial, kernel.allSatisfy({ $0 > 0 }) {
            // Axes are independent: a large stand-in for unknown sizes keeps the others computable.
            let sizes = input.map { $0 ?? 1_000_003 }
            let g = try geometry(input: sizes, kernel: kernel)
            for i in 0..<spatial where input[i] != nil { out[i] = .known(g.output[i]) }
        }
        if !outputShape.isEmpty, outputShape.count >= spatial {
            out = outputShape.suffix(spatial).map { .known($0) }
        }
        return [TensorType(x.dtype, [xs[0], m] + out)]
    }

    /// Output sizes and pads for inputs of spatial sizes `input` and a kernel of sizes `kernel`,
    /// following ONNX (`output_shape`, `auto_pad`, `output_padding`). `padEnd` is the pad taken
    /// off the end of the full output, which includes `output_padding`.
    public func geometry(input: [Int], kernel: [Int]) throws -> WindowGeometry {
        let n = input.count
        guard kernel.count == n else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] a kernel of \(kernel.count) sizes \(kernel) for \(n) spatial axes")
        }
        func list(_ values: [Int], _ name: String, _ fallback: Int) throws -> [Int] {
            if values.isEmpty { return Array(repeating: fallback, count: n) }
            guard values.count == n else {
                throw EmberError.op(Self.name, "attribute '\(name)' expected \(n) values, received \(values)")
            }
            return values
        }
        let strides = try list(window.strides, "strides", 1)
        let dilations = try list(window.dilations, "dilations", 1)
        let padding = try list(outputPadding, "output_padding", 0)
        var begin = Array(repeating: 0, count: n), end = Array(repeating: 0, count: n)
        if window.autoPad == .notSet, !window.pads.isEmpty {
            guard window.pads.count == 2 * n else {
                throw EmberError.op(Self.name, "attribute 'pads' expected \(2 * n) values, received \(window.pads)")
            }
            begin = Array(window.pads.prefix(n))
            end = Array(window.pads.suffix(n))
        }
        var target: [Int]? = nil
        if !outputShape.isEmpty {
            guard outputShape.count == n || outputShape.count == n + 2 else {
                throw EmberError.op(Self.name, "attribute 'output_shape' expected \(n) values, received \(outputShape)")
            }
            target = Array(outputShape.suffix(n))
        } else if window.autoPad == .sameUpper || window.autoPad == .sameLower {
            target = zip(input, strides).map { $0 * $1 }
        }
        var output = Array(repeating: 0, count: n)
        for i in 0..<n {
            let full = strides[i] * (input[i] - 1) + padding[i] + (kernel[i] - 1) * dilations[i] + 1
            if let target {
                // A negative total (output_shape past the full size) pads the end with zeros.
                let total = full - target[i]
                let half = total >= 0 ? total / 2 : -((-total + 1) / 2)
                if window.autoPad == .sameUpper {
                    begin[i] = half
                    end[i] = total - half
                } else {
                    begin[i] = total - half
                    end[i] = half
                }
                output[i] = target[i]
            } else {
                output[i] = full - begin[i] - end[i]
                guard output[i] >= 0 else {
                    throw EmberError(.shapeMismatch, "[\(Self.name)] pads \(window.pads) leave a negative output size on spatial axis \(i)")
                }
            }
        }
        return WindowGeometry(input: input, kernel: kernel, output: output, strides: strides, dilations: dilations, padBegin: begin, padEnd: end)
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (x, w) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        let bias = inputs.optional(2)
        try x.expectDType(Conv.dtypes, Self.name, input: "X")
        try Elementwise.expectSameDType(x.dtype, w.dtype, Self.name)
        let spatial = try WindowInput.spatial(x.shape, op: Self.name)
        guard w.rank == x.rank else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] W has shape \(w.shape), expected rank \(x.rank)")
        }
        let (n, c) = (x.shape[0], x.shape[1])
        let kernel = Array(w.shape.dropFirst(2))
        guard kernel.allSatisfy({ $0 >= 1 }) else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] W has shape \(w.shape), expected a kernel of positive sizes")
        }
        if !window.kernelShape.isEmpty, window.kernelShape != kernel {
            throw EmberError(.shapeMismatch, "[\(Self.name)] kernel_shape \(window.kernelShape) differs from W's \(kernel)")
        }
        guard c % group == 0, w.shape[0] == c else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] X has \(c) channels and W has shape \(w.shape), expected W [C, M / group, kernel...] with C divisible by \(group)")
        }
        let (cg, mg) = (c / group, w.shape[1])
        let m = mg * group
        if let bias {
            try Elementwise.expectSameDType(x.dtype, bias.dtype, Self.name)
            guard bias.shape == [m] else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] B has shape \(bias.shape), expected [\(m)]")
            }
        }
        let g = try geometry(input: spatial, kernel: kernel)
        let work: DType = x.dtype == .f32 ? .f32 : .f64
        let (inCount, taps) = (g.inputCount, g.kernelCount)
        let rows = mg * taps
        let products = n * group
        let weights = MatrixOperand(
            tensor: w.cast(to: work), offsets: (0..<products).map { ($0 % group) * cg * rows }, rowStride: 1, colStride: rows)
        let images = MatrixOperand(
            tensor: x.cast(to: work), offsets: (0..<products).map { $0 * cg * inCount }, rowStride: inCount, colStride: 1)
        let columns = MatrixProduct.multiply(weights, images, m: rows, n: inCount, k: cg)
        let planes = n * m
        let storage: TensorStorage
        switch columns {
        case .f32(let v): storage = .f32(Self.col2im(v, planes: planes, geometry: g, zero: Float(0)))
        default: storage = .f64(Self.col2im(Tensor(shape: [], storage: columns).doubles(), planes: planes, geometry: g, zero: 0.0))
        }
        var y = Tensor(shape: [n, m] + g.output, storage: storage)
        if let bias { y = Conv.addingBias(y, bias.cast(to: work), channels: m, plane: g.outputCount) }
        return [y.cast(to: x.dtype)]
    }

    /// Scatter-adds the columns `[planes, taps, inputs]` into output planes.
    private static func col2im<T: FloatingPoint & Sendable>(_ columns: [T], planes: Int, geometry g: WindowGeometry, zero: T) -> [T] {
        let spatial = g.input.count
        // Per axis, per tap, per input position: the output coordinate it adds to, or -1.
        let targets: [[Int]] = (0..<spatial).map { d in
            var out = [Int](repeating: -1, count: g.kernel[d] * g.input[d])
            for k in 0..<g.kernel[d] {
                for i in 0..<g.input[d] {
                    let o = i * g.strides[d] - g.padBegin[d] + k * g.dilations[d]
                    if o >= 0, o < g.output[d] { out[k * g.input[d] + i] = o }
                }
            }
            return out
        }
        let (inCount, outCount, taps) = (g.inputCount, g.outputCount, g.kernelCount)
        let outStrides = Tensor.strides(of: g.output)
        var out = [T](repeating: zero, count: planes * outCount)
        if out.isEmpty || inCount == 0 { return out }
        columns.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let (srcBase, dstBase) = (SendableBuffer(src), SendablePointer(dst.baseAddress.unsafelyUnwrapped))
                DispatchQueue.concurrentPerform(iterations: planes) { plane in
                    let src = srcBase.buffer
                    let y = dstBase.pointer + plane * outCount
                    var tap = [Int](repeating: 0, count: spatial)
                    var index = [Int](repeating: 0, count: spatial)
                    for t in 0..<taps {
                        var rest = t
                        for d in stride(from: spatial - 1, through: 0, by: -1) {
                            tap[d] = rest % g.kernel[d]
                            rest /= g.kernel[d]
                        }
                        let row = (plane * taps + t) * inCount
                        for d in 0..<spatial { index[d] = 0 }
                        for i in 0..<inCount {
                            var offset = 0
                            for d in 0..<spatial {
                                let o = targets[d][tap[d] * g.input[d] + index[d]]
                                if o < 0 { offset = -1; break }
                                offset += o * outStrides[d]
                            }
                            if offset >= 0 { y[offset] += src[row + i] }
                            var d = spatial - 1
                            while d >= 0 {
                                index[d] += 1
                                if index[d] < g.input[d] { break }
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
