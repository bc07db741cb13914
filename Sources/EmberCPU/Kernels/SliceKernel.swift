import EmberIR
import EmberOps

/// `slice` of any dtype, with steps (negative too): a strided copy from the first selected element.
/// Starts, ends, axes and steps are read at run time, so they need not be constants.
struct SliceKernel: CPUKernel {
    let node: KernelNode

    init(_ node: KernelNode) throws {
        guard node.op is SliceOp else { throw EmberError.op(node.op.name, "not a slice", code: .unsupported) }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let starts = try inputs.required(1, node.op.name).indexValues(node, "starts")
        let ends = try inputs.required(2, node.op.name).indexValues(node, "ends")
        let axes = try (inputs.count > 3 ? inputs[3] : nil).map { try $0.indexValues(node, "axes") } ?? Array(0..<starts.count)
        let steps = try (inputs.count > 4 ? inputs[4] : nil).map { try $0.indexValues(node, "steps") }
            ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw node.error(.invalidArgument, "starts, ends, axes and steps have \(starts.count), \(ends.count), \(axes.count) and \(steps.count) values, expected equal counts")
        }
        let rank = x.shape.count
        let rowMajor = Tensor.strides(of: x.shape)
        var shape = x.shape, strides = rowMajor, offset = 0, seen = Set<Int>()
        for (i, axis) in axes.enumerated() {
            let a = try Axes.normalize(axis, rank: rank, op: node.op.name)
            guard seen.insert(a).inserted else {
                throw node.error(.invalidArgument, "axes \(axes) repeat an axis")
            }
            guard steps[i] != 0 else { throw node.error(.invalidArgument, "step is 0, expected nonzero") }
            let (start, count) = Self.resolve(start: starts[i], end: ends[i], step: steps[i], dim: x.shape[a])
            shape[a] = count
            strides[a] = rowMajor[a] * steps[i]
            offset += start * rowMajor[a]
        }
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        try y.expect(shape: shape, dtype: x.dtype, node)
        if y.count == 0 { return }
        StridedCopy(shape: shape, strides: strides, offset: offset, elementSize: x.dtype.byteSize).run(from: x.data, to: y.data)
    }

    /// ONNX's rule for one axis: negative positions count from the end, then both are clamped.
    static func resolve(start: Int, end: Int, step: Int, dim: Int) -> (start: Int, count: Int) {
        var s = start < 0 ? start + dim : start
        var e = end < 0 ? end + dim : end
        if step > 0 {
            s = min(max(s, 0), dim)
            e = min(max(e, 0), dim)
            return (s, e > s ? (e - s - 1) / step + 1 : 0)
        }
        s = min(max(s, 0), dim - 1)
        e = min(max(e, -1), dim - 1)
        return (s, s > e ? 1 - (s - e - 1) / step : 0)
    }
}
