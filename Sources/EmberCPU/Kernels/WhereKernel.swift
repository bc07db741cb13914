import EmberIR
import EmberOps

/// `where(condition, x, y)` of any dtype with broadcasting: element by element over the rows of
/// a `BroadcastStrides`, copying whole elements by their byte size.
struct WhereKernel: CPUKernel {
    let node: KernelNode

    init(_ node: KernelNode) throws {
        guard node.op is Where else { throw EmberError.op(node.op.name, "not a where", code: .unsupported) }
        guard node.inputTypes.first??.dtype == .bool else {
            throw EmberError.op(node.op.name, "the condition must be bool", code: .unsupported)
        }
        self.node = node
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let views = try (0..<3).map { try inputs.required($0, node.op.name) }
        guard views[0].dtype == .bool, views[1].dtype == views[2].dtype, let out = outputs.first else {
            throw node.error(.typeMismatch, "expected a bool condition and two values of one dtype")
        }
        let shape = try Broadcast.shape(views.map(\.shape), op: node.op.name)
        try out.expect(shape: shape, dtype: views[1].dtype, node)
        guard out.count > 0 else { return }
        let layout = try BroadcastStrides(inputs: views.map(\.shape), output: shape, op: node.op.name)
        let condition = views[0].pointer(as: Bool.self)
        switch out.dtype.byteSize {
        case 8: select(layout, condition, views[1].data, views[2].data, out.data, as: UInt64.self)
        case 4: select(layout, condition, views[1].data, views[2].data, out.data, as: UInt32.self)
        case 2: select(layout, condition, views[1].data, views[2].data, out.data, as: UInt16.self)
        default: select(layout, condition, views[1].data, views[2].data, out.data, as: UInt8.self)
        }
    }

    private func select<T>(
        _ layout: BroadcastStrides, _ condition: UnsafeMutablePointer<Bool>, _ x: UnsafeMutableRawPointer,
        _ y: UnsafeMutableRawPointer, _ out: UnsafeMutableRawPointer, as: T.Type
    ) {
        let (a, b, o) = (x.assumingMemoryBound(to: T.self), y.assumingMemoryBound(to: T.self), out.assumingMemoryBound(to: T.self))
        let inner = layout.inner
        let last = layout.dims.count - 1
        let (sc, sa, sb) = (layout.strides[0][last], layout.strides[1][last], layout.strides[2][last])
        var offsets = [0, 0, 0]
        for row in 0..<layout.rows {
            layout.rowOffsets(row, into: &offsets)
            let (c0, a0, b0, o0) = (condition + offsets[0], a + offsets[1], b + offsets[2], o + row * inner)
            for j in 0..<inner { o0[j] = c0[j * sc] ? a0[j * sa] : b0[j * sb] }
        }
    }
}
