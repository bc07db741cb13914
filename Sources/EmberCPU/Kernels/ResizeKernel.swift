import EmberIR
import EmberOps

/// `resize` of f32 tensors in every mode, and of any dtype by nearest neighbour: the op's plan
/// (`Resize.plan`) gives, per resized axis, the input indices and weights of each output position;
/// the axes are resized one after the other, the last into the output and the others through
/// scratch memory. Along an inner axis each output row is a weighted sum of whole input rows
/// (vectorized along the row); along the last axis each element gathers its own taps.
struct ResizeKernel: CPUKernel {
    let node: KernelNode
    let op: Resize

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Resize else { throw EmberError.op(node.op.name, "not a resize", code: .unsupported) }
        guard let dtype = node.inputTypes.first??.dtype, dtype == .f32 || op.mode == .nearest else {
            throw EmberError.op(node.op.name, "interpolates f32 only (nearest: any dtype)", code: .unsupported)
        }
        (self.node, self.op) = (node, op)
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        func small(_ i: Int) throws -> Tensor? {
            try (i < inputs.count ? inputs[i] : nil)?.tensor()
        }
        let plan: Resize.Plan
        do {
            plan = try op.plan(x.shape, roi: try small(1), scales: try small(2), sizes: try small(3))
        } catch let error as EmberError {
            throw error.located(node.location)
        }
        guard let y = outputs.first else { throw node.error(.internalError, "no output") }
        try y.expect(shape: plan.outputShape, dtype: x.dtype, node)
        if y.count == 0 { return }
        guard let lastAxis = plan.axes.last else {
            y.data.copyMemory(from: x.data, byteCount: y.byteCount)
            return
        }
        // Each axis but the last resizes into one of two scratch halves, in turn.
        var shape = x.shape, largest = 0
        for (a, taps) in plan.axes.dropLast() {
            shape[a] = taps.count
            largest = max(largest, shape.reduce(1, *))
        }
        let half = (largest * x.dtype.byteSize + 63) / 64 * 64
        let scratch = half > 0 ? context.scratch(bytes: 2 * half) : nil
        shape = x.shape
        var source = UnsafeRawPointer(x.data)
        for (k, (axis, taps)) in plan.axes.enumerated() {
            let target = axis == lastAxis.axis ? y.data : scratch! + (k % 2) * half
            resize(source, shape: shape, axis: axis, taps: taps, into: target, dtype: x.dtype)
            shape[axis] = taps.count
            source = UnsafeRawPointer(target)
        }
    }

    /// Resizes `axis` of the plain tensor at `source` into `target`.
    private func resize(
        _ source: UnsafeRawPointer, shape: [Int], axis: Int, taps: [Resize.Taps?], into target: UnsafeMutableRawPointer,
        dtype: DType
    ) {
        let elementSize = dtype.byteSize
        let n = shape[axis], size = taps.count
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let shared = Shared((source, target))
        let weights = taps.map { $0.map { $0.weights.map(Float.init) } }
        Parallel.forEach(outer * size, grain: max(1, 16384 / max(inner * 2, 1))) { rows in
            let (source, target) = shared.value
            for row in rows {
                let (o, yPosition) = row.quotientAndRemainder(dividingBy: size)
                let out = target + row * inner * elementSize
                guard let tap = taps[yPosition], let w = weights[yPosition] else {
                    Self.fill(out, count: inner, value: op.extrapolationValue, dtype: dtype)
                    continue
                }
                let first = source + (o * n) * inner * elementSize
                if op.mode == .nearest {
                    out.copyMemory(from: first + tap.indices[0] * inner * elementSize, byteCount: inner * elementSize)
                    continue
                }
                let dst = out.assumingMemoryBound(to: Float.self)
                let src = first.assumingMemoryBound(to: Float.self)
                if inner == 1 {
                    var sum: Float = 0
                    for t in tap.indices.indices { sum += w[t] * src[tap.indices[t]] }
                    dst[0] = sum
                    continue
                }
                dst.update(repeating: 0, count: inner)
                for t in tap.indices.indices where w[t] != 0 {
                    let weight = w[t], line = src + tap.indices[t] * inner
                    for i in 0..<inner { dst[i] += weight * line[i] }
                }
            }
        }
    }

    /// Writes `value` in `dtype` into `count` elements (tf_crop_and_resize coordinates outside
    /// the input).
    private static func fill(_ out: UnsafeMutableRawPointer, count: Int, value: Double, dtype: DType) {
        let element = Tensor(scalar: value, dtype)
        element.withUnsafeRawBytes { bytes in
            for i in 0..<count { (out + i * dtype.byteSize).copyMemory(from: bytes.baseAddress!, byteCount: dtype.byteSize) }
        }
    }
}
