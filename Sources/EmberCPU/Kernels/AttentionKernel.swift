import Foundation
import EmberIR
import EmberOps

/// `attention` on f32 (ONNX opset 23 semantics, see `Attention`), 4-D `[batch, heads, seq, size]`
/// or 3-D `[batch, seq, heads * size]`, with masks (bool or additive, any broadcast), `is_causal`,
/// sliding windows, `scale`, `softcap` and grouped-query heads. Past keys, padding lengths and the
/// extra outputs are not run here.
///
/// Threads take blocks of up to 48 query rows of one batch and head; `Work` (AttentionBlock.swift)
/// computes a block with its scores held transposed, queries across vector lanes.
struct AttentionKernel: CPUKernel {
    let node: KernelNode
    let op: Attention

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

        let blocks = (seq + Self.block - 1) / Self.block
        let items = batch * qHeads * blocks
        let chunks = chunkCount(items, itemCost: Self.block * keys * (size + valueSize))
        let floatsPerChunk = Work.scratchFloats(geometry)
        let scratch = context.scratch(bytes: chunks * floatsPerChunk * MemoryLayout<Float>.stride)
        let shared = Shared((q.floats, k.floats, v.floats, y.floats, inputs.count > 3 ? inputs[3]?.data : nil, scratch))
        let settings = Settings(
            scale: Float(op.scale ?? 1 / Double(size).squareRoot()), softcap: Float(op.softcap), causal: op.isCausal,
            left: op.leftWindowSize, right: op.rightWindowSize)
        // Threads take runs of blocks as they finish the last (about eight per thread), so that a
        // thread slowed by anything else on its core does not hold up the whole step.
        let queue = Parallel.ItemQueue(count: items, grain: max(1, items / (chunks * 8)))
        Parallel.forEach(chunks) { range in
            let (q, k, v, y, mask, scratch) = shared.value
            for chunk in range {
                var work = Work(
                    g: geometry, s: settings, q: q, k: k, v: v, y: y, mask: mask,
                    scratch: scratch.assumingMemoryBound(to: Float.self) + chunk * floatsPerChunk)
                while let run = queue.next() {
                    for item in run {
                        let (bh, qBlock) = (item / blocks, item % blocks)
                        work.run(
                            b: bh / qHeads, h: bh % qHeads, rows: (qBlock * Self.block)..<min(seq, (qBlock + 1) * Self.block))
                    }
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
        let broadcast = (0..<3).map { shape[$0] == 1 ? 0 : strides[$0] }
        return MaskLayout(
            batchStride: broadcast[0], headStride: broadcast[1], queryStride: broadcast[2], keys: shape[3],
            isBool: view.dtype == .bool)
    }
}

extension AttentionKernel {
    /// Where a mask's values lie: `(b, h, i, j)` at `b * batchStride + h * headStride +
    /// i * queryStride + j`, strides 0 where it broadcasts; keys past `keys` are masked.
    struct MaskLayout {
        var batchStride, headStride, queryStride: Int
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
}
