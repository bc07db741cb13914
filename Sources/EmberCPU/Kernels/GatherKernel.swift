import EmberIR
import EmberOps

/// `gather` of any dtype along any axis with i64 or i32 indices (negative ones count from the
/// end): each index selects a contiguous block of the dims after the axis, copied whole, so an
/// embedding lookup is one `memcpy` per token. An index out of range is an error.
struct GatherKernel: CPUKernel {
    let node: KernelNode
    let axis: Int

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Gather else { throw EmberError.op(node.op.name, "not a gather", code: .unsupported) }
        if let indices = node.inputTypes[1], indices.dtype != .i64, indices.dtype != .i32 {
            throw EmberError.op(op.name, "indices have dtype \(indices.dtype), expected i64 or i32", code: .unsupported)
        }
        self.node = node
        axis = op.axis
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let data = try inputs.required(0, node.op.name)
        let indexView = try inputs.required(1, node.op.name)
        let rank = data.shape.count
        let a = try Axes.normalize(axis, rank: rank, op: node.op.name)
        let size = data.shape[a]
        let indices = try indexView.indexValues(node, "indices").map { i in
            let j = i < 0 ? i + size : i
            guard j >= 0, j < size else {
                throw node.error(.invalidArgument, "index \(i) is out of range for a dim of size \(size)")
            }
            return j
        }
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        try y.expect(shape: Array(data.shape[..<a]) + indexView.shape + Array(data.shape[(a + 1)...]), dtype: data.dtype, node)
        let outer = data.shape[..<a].reduce(1, *)
        let blockBytes = data.shape[(a + 1)...].reduce(1, *) * data.dtype.byteSize
        let items = outer * indices.count
        guard items * blockBytes > 0 else { return }
        let shared = Shared((UnsafeRawPointer(data.data), y.data))
        let chunks = chunkCount(items, itemCost: blockBytes / 4)
        Parallel.forEach(chunks) { range in
            let (source, output) = shared.value
            for chunk in range {
                for item in (items * chunk / chunks)..<(items * (chunk + 1) / chunks) {
                    let (o, k) = (item / indices.count, item % indices.count)
                    (output + item * blockBytes).copyMemory(
                        from: source + (o * size + indices[k]) * blockBytes, byteCount: blockBytes)
                }
            }
        }
    }
}
