import EmberIR
import EmberOps

/// `concat` of any dtype: for each index of the dims before the axis, each input's block is copied
/// whole, blocks split over threads. A concat along the channels of a rank 3 to 5 tensor also
/// reads and writes channel-blocked layouts.
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
        let a = try Axes.normalize(axis, rank: rank, op: node.op.name)
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
        if a == 1, y.layout != .plain || parts.contains(where: { $0.layout != .plain }) {
            return Self.joinChannels(parts, into: y)
        }
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

    /// Whether `node` joins rank 3 to 5 tensors along dim 1, the dim a channel-blocked layout splits.
    static func joinsChannels(_ node: KernelNode) -> Bool {
        guard let op = node.op as? Concat, let rank = node.outputTypes.first?.rank, (3...5).contains(rank) else { return false }
        return (try? Axes.normalize(op.axis, rank: rank, op: op.name)) == 1 && node.inputTypes.allSatisfy { $0?.rank == rank }
    }

    /// Joins `parts` along the channels where either side may be channel-blocked. A blocked part
    /// whose channels start on a block boundary of a blocked result is copied a block row at a
    /// time (its padding lands in channels a later part overwrites, or in the result's own
    /// padding); any other part channel by channel. The result's padding channels end zero.
    private static func joinChannels(_ parts: [TensorView], into y: TensorView) {
        let batch = y.shape[0], channels = y.shape[1], spatial = y.shape.dropFirst(2).reduce(1, *)
        let size = y.dtype.byteSize
        func block(_ layout: CPULayout) -> Int { if case .channelBlocked(let b) = layout { b } else { 1 } }
        let outBlock = block(y.layout), outBlocks = (channels + outBlock - 1) / outBlock
        /// The byte offset of element (n, c, 0) and the element stride along the spatial dims.
        func place(_ layout: CPULayout, _ count: Int, _ n: Int, _ c: Int) -> (offset: Int, stride: Int) {
            let b = block(layout), blocks = (count + b - 1) / b
            return ((((n * blocks + c / b) * spatial) * b + c % b) * size, b)
        }
        let output = Shared(y.data)
        var start = 0
        for part in parts {
            let count = part.shape[1], source = Shared(UnsafeRawPointer(part.data))
            defer { start += count }
            if part.layout == y.layout, start % outBlock == 0 {
                // Whole rows: the part's channels lie contiguous for each image in both layouts.
                let bytes = part.byteCount / batch
                let first = start / outBlock * spatial * outBlock * size
                Parallel.forEach(batch) { images in
                    for n in images {
                        (output.value + n * outBlocks * spatial * outBlock * size + first).copyMemory(from: source.value + n * bytes, byteCount: bytes)
                    }
                }
                continue
            }
            let from = part.layout, to = y.layout, offset = start
            Parallel.forEach(batch * count, grain: max(1, 4096 / max(spatial, 1))) { rows in
                for row in rows {
                    let n = row / count, c = row % count
                    let s = place(from, count, n, c), d = place(to, channels, n, offset + c)
                    let p = source.value + s.offset, q = output.value + d.offset
                    for i in 0..<spatial { (q + i * d.stride * size).copyMemory(from: p + i * s.stride * size, byteCount: size) }
                }
            }
        }
        // oneDNN reads the padding channels of the last block, which must be zero.
        guard channels % outBlock != 0 else { return }
        let used = channels % outBlock
        for n in 0..<batch {
            let base = output.value + ((n * outBlocks + outBlocks - 1) * spatial * outBlock) * size
            for i in 0..<spatial {
                (base + (i * outBlock + used) * size).initializeMemory(as: UInt8.self, repeating: 0, count: (outBlock - used) * size)
            }
        }
    }
}
