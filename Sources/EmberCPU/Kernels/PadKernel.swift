import EmberIR
import EmberOps

/// `pad` of any dtype in every mode (constant, reflect, edge, wrap), negative pads cropping: a
/// table per axis gives, for each output position, the input position it copies or none (the
/// constant). Rows whose outer positions all exist copy their inner run element by element.
struct PadKernel: CPUKernel {
    let node: KernelNode
    let mode: Pad.Mode

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Pad else { throw EmberError.op(node.op.name, "not a pad", code: .unsupported) }
        self.node = node
        mode = op.mode
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        let pads = try inputs.required(1, node.op.name).indexValues(node, "pads")
        let rank = x.shape.count
        let axes = try (inputs.count > 3 ? inputs[3] : nil).map { try $0.indexValues(node, "axes") } ?? Array(0..<rank)
        // In the order given: pads pair with axes.
        let normalized = try axes.map { try Axes.normalize($0, rank: rank, op: node.op.name) }
        guard pads.count == 2 * axes.count, Set(normalized).count == axes.count else {
            throw node.error(.invalidArgument, "pads \(pads) and axes \(axes) do not fit rank \(rank)")
        }
        var begin = Array(repeating: 0, count: rank), end = begin
        for (i, a) in normalized.enumerated() { (begin[a], end[a]) = (pads[i], pads[axes.count + i]) }
        let shape = (0..<rank).map { x.shape[$0] + begin[$0] + end[$0] }
        guard shape.allSatisfy({ $0 >= 0 }), let y = outputs.first else {
            throw node.error(.invalidArgument, "pads \(pads) give the invalid shape \(shape)")
        }
        try y.expect(shape: shape, dtype: x.dtype, node)
        if y.count == 0 { return }
        let strides = Tensor.strides(of: x.shape)
        var tables: [[Int?]] = []
        for k in 0..<rank {
            let n = x.shape[k]
            if n == 0, mode != .constant {
                throw node.error(.invalidArgument, "cannot pad an empty axis \(k) in \(mode) mode")
            }
            tables.append((0..<shape[k]).map { i in mode.source(i, begin: begin[k], n: n).map { $0 * strides[k] } })
        }
        let size = x.dtype.byteSize
        let fill = [UInt8](repeating: 0, count: size)
        let value: UnsafeRawPointer? = (inputs.count > 2 ? inputs[2] : nil).flatMap { $0.count > 0 ? UnsafeRawPointer($0.data) : nil }
        if let constant = inputs.count > 2 ? inputs[2] : nil, constant.dtype != x.dtype {
            throw node.error(.typeMismatch, "constant_value has dtype \(constant.dtype), expected \(x.dtype)")
        }
        fill.withUnsafeBytes { zero in
            let fillValue = value ?? zero.baseAddress!
            let inner = rank == 0 ? 1 : shape[rank - 1]
            let rows = y.count / max(inner, 1)
            let innerTable = rank == 0 ? [0] : tables[rank - 1]
            var index = Array(repeating: 0, count: max(rank - 1, 0))
            for row in 0..<rows {
                var offset: Int? = 0
                for d in 0..<index.count { offset = offset.flatMap { o in tables[d][index[d]].map { o + $0 } } }
                let dst = y.data + row * inner * size
                for j in 0..<inner {
                    let source = offset.flatMap { o in innerTable[j].map { o + $0 } }
                    (dst + j * size).copyMemory(from: source.map { UnsafeRawPointer(x.data + $0 * size) } ?? fillValue, byteCount: size)
                }
                var d = index.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }
}
