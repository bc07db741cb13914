import EmberIR
import EmberOps

/// `layer_norm` and `rms_norm` on f32: each row of the dims from `axis` on is normalized with two
/// vector passes (statistics, then `(x - mean) * rstd * scale + bias`), rows split over threads.
/// Scale and bias may be any shape that broadcasts to the normalized dims.
struct RowNormKernel: CPUKernel {
    let node: KernelNode
    let axis: Int
    let epsilon: Float
    let rms: Bool

    init(_ node: KernelNode) throws {
        switch node.op {
        case let op as LayerNorm: (axis, epsilon, rms) = (op.axis, Float(op.epsilon), false)
        case let op as RMSNorm: (axis, epsilon, rms) = (op.axis, Float(op.epsilon), true)
        default: throw EmberError.op(node.op.name, "not a row normalization", code: .unsupported)
        }
        guard node.outputTypes.count == 1 else {
            throw EmberError.op(node.op.name, "the mean and inverse deviation outputs are not produced", code: .unsupported)
        }
        for case let (i, type?) in node.inputTypes.enumerated() where type.dtype != .f32 {
            throw EmberError.op(node.op.name, "input \(i) has dtype \(type.dtype), expected f32", code: .unsupported)
        }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        guard let y = outputs.first, y.shape == x.shape, y.dtype == .f32, x.dtype == .f32 else {
            throw node.error(.shapeMismatch, "expected an f32 output of shape \(x.shape)")
        }
        let a = try Axes.normalize(axis, rank: x.shape.count, op: node.op.name)
        let normalized = Array(x.shape[a...])
        let size = normalized.reduce(1, *)
        let rows = x.shape[..<a].reduce(1, *)
        guard x.count > 0 else { return }
        // Scale and bias as full rows, broadcast into scratch where they are smaller.
        let parameters = context.scratch(bytes: 2 * size * MemoryLayout<Float>.stride).assumingMemoryBound(to: Float.self)
        let scale = try row(inputs.required(1, node.op.name), normalized, into: parameters, "scale")
        let bias = try inputs.count > 2 ? inputs[2].map { try row($0, normalized, into: parameters + size, "bias") } : nil
        let shared = Shared((x.floats, y.floats, scale, bias.map { UnsafePointer($0) }))
        let (epsilon, rms) = (self.epsilon, self.rms)
        let chunks = chunkCount(rows, itemCost: size * 3)
        Parallel.forEach(chunks) { range in
            let (x, y, scale, bias) = shared.value
            for chunk in range {
                for r in (rows * chunk / chunks)..<(rows * (chunk + 1) / chunks) {
                    let (src, dst) = (x + r * size, y + r * size)
                    let mean = rms ? 0 : RowMath.sum(src, size) / Float(size)
                    let variance = RowMath.squaredDeviation(src, size, from: mean) / Float(size)
                    let rstd = 1 / (variance + epsilon).squareRoot()
                    Self.normalize(src, dst, size, mean, rstd, scale, bias)
                }
            }
        }
    }

    /// `dst = (src - mean) * rstd * scale + bias`.
    @inline(__always)
    static func normalize(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ mean: Float, _ rstd: Float,
        _ scale: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?
    ) {
        var i = 0
        while i + 16 <= n {
            var v = (VectorLoops.load(src + i) - mean) * rstd * VectorLoops.load(scale + i)
            if let bias { v += VectorLoops.load(bias + i) }
            VectorLoops.store(v, dst + i)
            i += 16
        }
        while i < n {
            dst[i] = (src[i] - mean) * rstd * scale[i] + (bias?[i] ?? 0)
            i += 1
        }
    }

    /// A parameter as `size` contiguous floats: its own memory when it has that many, else
    /// broadcast into `buffer`.
    private func row(_ view: TensorView, _ shape: [Int], into buffer: UnsafeMutablePointer<Float>, _ what: String) throws
        -> UnsafeMutablePointer<Float>
    {
        guard view.dtype == .f32 else { throw node.error(.typeMismatch, "\(what) has dtype \(view.dtype), expected f32") }
        let size = shape.reduce(1, *)
        if view.count == size { return view.floats }
        guard let layout = try? BroadcastStrides(inputs: [view.shape], output: shape, op: node.op.name) else {
            throw node.error(.shapeMismatch, "\(what) has shape \(view.shape), which does not broadcast to \(shape)")
        }
        var offsets = [0]
        let inner = layout.inner
        for r in 0..<layout.rows {
            layout.rowOffsets(r, into: &offsets)
            for j in 0..<inner { buffer[r * inner + j] = view.floats[offsets[0] + j * layout.strides[0][layout.dims.count - 1]] }
        }
        return buffer
    }
}
