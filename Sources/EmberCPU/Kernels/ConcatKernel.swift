import EmberIR
import EmberOps

/// `concat` of any dtype: for each index of the dims before the axis, each input's block is copied
/// whole, blocks split over threads.
struct ConcatKernel: CPUKernel {
    let node: KernelNode
    let axis: Int

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Concat else { throw EmberError.op(node.op.name, "not a concat", code: .unsupported) }
        self.node = node
        axis = op.axis
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let parts = try inputs.indices.map { try inputs.required($0, node.op.name) }
        guard let first = parts.first, let y = outputs.first else { throw node.error(.invalidArgument, "expected inputs") }
        let rank = first.shape.count
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else { throw node.error(.invalidArgument, "axis \(axis) is out of range for rank \(rank)") }
        var shape = first.shape
        shape[a] = 0
        for (i, part) in parts.enumerated() {
            var expected = first.shape
            expected[a] = part.shape.count == rank ? part.shape[a] : -1
            guard part.shape == expected, part.dtype == first.dtype else {
                throw node.error(.shapeMismatch, "input \(i) is \(part.dtype)\(part.shape), which does not join \(first.dtype)\(first.shape) along axis \(a)")
            }
            shape[a] += part.shape[a]
        }
        try y.expect(shape: shape, dtype: first.dtype, node)
        let outer = shape[..<a].reduce(1, *)
        let elementSize = first.dtype.byteSize
        let blockBytes = parts.map { $0.shape[a...].reduce(1, *) * elementSize }
        let rowBytes = blockBytes.reduce(0, +)
        guard outer * rowBytes > 0 else { return }
        let shared = Shared((parts.map { UnsafeRawPointer($0.data) }, y.data))
        let chunks = chunkCount(outer, itemCost: rowBytes / 4)
        Parallel.forEach(chunks) { range in
            let (sources, output) = shared.value
            for chunk in range {
                for o in (outer * chunk / chunks)..<(outer * (chunk + 1) / chunks) {
                    var dst = output + o * rowBytes
                    for (source, bytes) in zip(sources, blockBytes) {
                        dst.copyMemory(from: source + o * bytes, byteCount: bytes)
                        dst += bytes
                    }
                }
            }
        }
    }
}
