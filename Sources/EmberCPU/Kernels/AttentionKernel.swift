import EmberIR
import EmberOps

/// `attention` on f32 (ONNX opset 23 semantics, see `Attention`), 4-D `[batch, heads, seq, size]`
/// or 3-D `[batch, seq, heads * size]`, with masks (bool or additive, any broadcast), `is_causal`,
/// sliding windows, `scale`, `softcap` and grouped-query heads. Past keys, padding lengths and the
/// extra outputs are not run here.
///
/// Threads take blocks of `block` query rows of one batch and head. A block computes its scores
/// against every key (`block x keys` floats, never `seq x keys`), applies the bias and softmax row
/// by row in place, and multiplies by V; K is transposed once per batch and KV head into scratch so
/// that both products are broadcast multiply-adds over contiguous rows.
struct AttentionKernel: CPUKernel {
    let node: KernelNode
    let op: Attention
    static let block = 32

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Attention else { throw EmberError.op(node.op.name, "not attention", code: .unsupported) }
        guard node.outputTypes.count == 1 else {
            throw EmberError.op(op.name, "present key, value and score outputs are not produced", code: .unsupported)
        }
        guard node.inputTypes.count <= 4 else {
            throw EmberError.op(op.name, "past key and value and nonpad_kv_seqlen are not supported", code: .unsupported)
        }
        for i in 0..<3 where node.inputTypes[i]?.dtype != .f32 {
            throw EmberError.op(
                op.name, "input \(i) has dtype \(node.inputTypes[i]?.dtype.description ?? "none"), expected f32",
                code: .unsupported)
        }
        if node.inputTypes.count > 3, let mask = node.inputTypes[3], mask.dtype != .f32, mask.dtype != .bool {
            throw EmberError.op(op.name, "attn_mask has dtype \(mask.dtype), expected f32 or bool", code: .unsupported)
        }
        self.node = node
        self.op = op
    }

    /// Where one operand's rows lie: element `(b, h, i, c)` is at `b * batch + h * head + i * row + c`.
    struct Operand {
        var batch: Int, head: Int, row: Int
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let (q, k, v) = (try inputs.required(0, op.name), try inputs.required(1, op.name), try inputs.required(2, op.name))
        guard let y = outputs.first else { throw node.error(.invalidArgument, "expected an output") }
        let rank = q.shape.count
        guard rank == 3 || rank == 4, k.shape.count == rank, v.shape.count == rank, y.shape.count == rank else {
            throw node.error(.shapeMismatch, "Q \(q.shape), K \(k.shape) and V \(v.shape) must all be 3-D or all 4-D")
        }
        let batch = q.shape[0]
        let qHeads: Int, kvHeads: Int, seq: Int, keys: Int, size: Int, valueSize: Int
        if rank == 4 {
            (qHeads, seq, size) = (q.shape[1], q.shape[2], q.shape[3])
            (kvHeads, keys, valueSize) = (k.shape[1], k.shape[2], v.shape[3])
            guard k.shape[3] == size, v.shape[1] == kvHeads, v.shape[2] == keys else {
                throw node.error(.shapeMismatch, "Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree")
            }
        } else {
            guard let qh = op.qNumHeads, let kvh = op.kvNumHeads, q.shape[2] % qh == 0, k.shape[2] % kvh == 0,
                v.shape[2] % kvh == 0
            else {
                throw node.error(.shapeMismatch, "3-D Q \(q.shape), K \(k.shape), V \(v.shape) do not split into the given heads")
            }
            (qHeads, kvHeads, seq, keys) = (qh, kvh, q.shape[1], k.shape[1])
            (size, valueSize) = (q.shape[2] / qh, v.shape[2] / kvh)
            guard k.shape[2] / kvh == size, v.shape[1] == keys else {
                throw node.error(.shapeMismatch, "Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree")
            }
        }
        guard k.shape[0] == batch, v.shape[0] == batch, kvHeads > 0, qHeads % kvHeads == 0 else {
            throw node.error(.shapeMismatch, "Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree on batch and heads")
        }
        let expected = rank == 4 ? [batch, qHeads, seq, valueSize] : [batch, seq, qHeads * valueSize]
        guard y.shape == expected, y.dtype == .f32 else {
            throw node.error(.shapeMismatch, "output has shape \(y.shape), expected \(expected)")
        }
        func layout(_ heads: Int, _ rows: Int, _ width: Int) -> Operand {
            rank == 4
                ? Operand(batch: heads * rows * width, head: rows * width, row: width)
                : Operand(batch: rows * heads * width, head: width, row: heads * width)
        }
        let geometry = Geometry(
            batch: batch, qHeads: qHeads, kvHeads: kvHeads, seq: seq, keys: keys, size: size, valueSize: valueSize,
            q: layout(qHeads, seq, size), k: layout(kvHeads, keys, size), v: layout(kvHeads, keys, valueSize),
            y: layout(qHeads, seq, valueSize),
            mask: try mask(inputs.count > 3 ? inputs[3] : nil, batch: batch, heads: qHeads, seq: seq, keys: keys))
        guard batch * qHeads * seq > 0, valueSize > 0 else { return }

        let paddedKeys = (keys + 15) / 16 * 16
        let blocks = (seq + Self.block - 1) / Self.block
        let items = batch * qHeads * blocks
        let chunks = chunkCount(items, itemCost: Self.block * keys * (size + valueSize))
        let floatsPerChunk = size * paddedKeys + Self.block * paddedKeys
        let scratch = context.scratch(bytes: chunks * floatsPerChunk * MemoryLayout<Float>.stride)
        let shared = Shared((q.floats, k.floats, v.floats, y.floats, inputs.count > 3 ? inputs[3]?.data : nil, scratch))
        let settings = Settings(
            scale: Float(op.scale ?? 1 / Double(size).squareRoot()), softcap: Float(op.softcap), causal: op.isCausal,
            left: op.leftWindowSize, right: op.rightWindowSize)
        Parallel.forEach(chunks) { range in
            let (q, k, v, y, mask, scratch) = shared.value
            for chunk in range {
                let base = scratch.assumingMemoryBound(to: Float.self) + chunk * floatsPerChunk
                var work = Work(
                    g: geometry, s: settings, q: q, k: k, v: v, y: y, mask: mask, keysT: base,
                    scores: base + size * paddedKeys, paddedKeys: paddedKeys)
                for item in (items * chunk / chunks)..<(items * (chunk + 1) / chunks) {
                    let (bh, qBlock) = (item / blocks, item % blocks)
                    work.run(b: bh / qHeads, h: bh % qHeads, rows: (qBlock * Self.block)..<min(seq, (qBlock + 1) * Self.block))
                }
            }
        }
    }

    /// The mask's strides over `[batch, heads, seq]` and its number of keys, checked.
    private func mask(_ view: TensorView?, batch: Int, heads: Int, seq: Int, keys: Int) throws -> MaskLayout? {
        guard let view else { return nil }
        guard view.dtype == .f32 || view.dtype == .bool, (1...4).contains(view.shape.count) else {
            throw node.error(.shapeMismatch, "attn_mask \(view.dtype)\(view.shape) must be f32 or bool of rank 1 to 4")
        }
        let shape = Array(repeating: 1, count: 4 - view.shape.count) + view.shape
        let target = [batch, heads, seq, keys]
        for d in 0..<3 where shape[d] != 1 && shape[d] != target[d] {
            throw node.error(.shapeMismatch, "attn_mask of shape \(view.shape) does not broadcast to \(target)")
        }
        guard shape[3] <= keys else {
            throw node.error(.shapeMismatch, "attn_mask of shape \(view.shape) has more than the \(keys) keys")
        }
        let strides = Tensor.strides(of: shape)
        return MaskLayout(
            strides: (0..<3).map { shape[$0] == 1 ? 0 : strides[$0] }, keys: shape[3], isBool: view.dtype == .bool)
    }
}

extension AttentionKernel {
    struct MaskLayout {
        var strides: [Int]
        var keys: Int
        var isBool: Bool
    }

    struct Geometry {
        var batch, qHeads, kvHeads, seq, keys, size, valueSize: Int
        var q, k, v, y: Operand
        var mask: MaskLayout?
    }

    struct Settings {
        var scale: Float
        var softcap: Float
        var causal: Bool
        var left: Int
        var right: Int
    }

    /// One thread's state: its scratch and which K it has transposed.
    struct Work {
        let g: Geometry
        let s: Settings
        let q, k, v, y: UnsafeMutablePointer<Float>
        let mask: UnsafeMutableRawPointer?
        let keysT: UnsafeMutablePointer<Float>
        let scores: UnsafeMutablePointer<Float>
        let paddedKeys: Int
        var transposed: (Int, Int)? = nil

        init(
            g: Geometry, s: Settings, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
            v: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, mask: UnsafeMutableRawPointer?,
            keysT: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, paddedKeys: Int
        ) {
            (self.g, self.s, self.q, self.k, self.v, self.y, self.mask) = (g, s, q, k, v, y, mask)
            (self.keysT, self.scores, self.paddedKeys) = (keysT, scores, paddedKeys)
        }

        /// Query rows `rows` of batch `b`, head `h`.
        mutating func run(b: Int, h: Int, rows: Range<Int>) {
            let kvh = h / (g.qHeads / g.kvHeads)
            if transposed == nil || transposed! != (b, kvh) {
                transposeKeys(b: b, kvh: kvh)
                transposed = (b, kvh)
            }
            let m = rows.count
            let qBase = q + b * g.q.batch + h * g.q.head + rows.lowerBound * g.q.row
            SmallGemm.multiply(
                m: m, n: paddedKeys, k: g.size, alpha: s.scale, a: qBase, lda: g.q.row, b: keysT, ldb: paddedKeys,
                c: scores, ldc: paddedKeys)
            for (r, i) in rows.enumerated() { normalizeRow(scores + r * paddedKeys, b: b, h: h, i: i) }
            let vBase = v + b * g.v.batch + kvh * g.v.head
            let yBase = y + b * g.y.batch + h * g.y.head + rows.lowerBound * g.y.row
            SmallGemm.multiply(
                m: m, n: g.valueSize, k: g.keys, alpha: 1, a: scores, lda: paddedKeys, b: vBase, ldb: g.v.row, c: yBase,
                ldc: g.y.row)
        }

        /// `keysT[d, j] = K[b, kvh, j, d]`, zero past the last key.
        func transposeKeys(b: Int, kvh: Int) {
            let base = k + b * g.k.batch + kvh * g.k.head
            for j in 0..<g.keys {
                let row = base + j * g.k.row
                for d in 0..<g.size { keysT[d * paddedKeys + j] = row[d] }
            }
            for d in 0..<g.size {
                for j in g.keys..<paddedKeys { keysT[d * paddedKeys + j] = 0 }
            }
        }

        /// Softcap, bias and softmax of one row of scaled scores, in place.
        func normalizeRow(_ row: UnsafeMutablePointer<Float>, b: Int, h: Int, i: Int) {
            let n = g.keys
            if s.softcap > 0 {
                let cap = s.softcap
                VectorLoops.map(row, row, n) { VectorMath.tanh($0 / cap) * cap }
            }
            // Keys outside [low, high] are masked; the mask adds its own terms.
            // Without past keys, query i sits at position i.
            let position = i
            var low = 0, high = n - 1
            if s.causal { high = min(high, position) }
            if s.left >= 0 { low = max(low, position - s.left) }
            if s.right >= 0 { high = min(high, position + s.right) }
            if let layout = g.mask, let mask {
                let offset = b * layout.strides[0] + h * layout.strides[1] + i * layout.strides[2]
                if layout.isBool {
                    let keep = mask.assumingMemoryBound(to: Bool.self) + offset
                    for j in 0..<layout.keys where !keep[j] { row[j] = -.infinity }
                } else {
                    VectorLoops.map(row, mask.assumingMemoryBound(to: Float.self) + offset, row, layout.keys) { $0 + $1 }
                }
                // Keys past a shorter mask are masked.
                high = min(high, layout.keys - 1)
            }
            for j in 0..<min(low, n) { row[j] = -.infinity }
            if high + 1 < n { for j in max(high + 1, 0)..<n { row[j] = -.infinity } }
            // A row whose every key is masked gives zeros (the reference's rule, and what its
            // softmax of -infinity with the maximum taken as 0 gives too).
            let top = RowMath.max(row, n)
            if top == -.infinity {
                row.update(repeating: 0, count: n)
                return
            }
            let sum = RowMath.expAndSum(row, row, n, shift: top)
            RowMath.scale(row, row, n, sum == 0 ? 1 : 1 / sum, 0)
        }
    }
}
