import EmberIR
import EmberOps

extension CUDAKernelPlan {
    /// `attention(Q, K, V, mask?)` as one generated kernel: 4-D `[batch, heads, seq, size]` or
    /// 3-D `[batch, seq, heads * size]` inputs, grouped-query heads, an optional additive or
    /// boolean mask read with broadcast strides, a scale and `is_causal`. Past keys and values,
    /// padding lengths, softcap, sliding windows and the extra outputs are refused, so those
    /// nodes run elsewhere.
    static func attention(_ op: Attention, _ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        switch attentionProblem(op, node) {
        case .success(let problem):
            return .success(.generated(CUDAAttentionGenerator.generate(problem, multiprocessors: multiprocessors)))
        case .failure(let why):
            return .failure(why)
        }
    }

    /// What the attention kernel is specialized for, or why it does not run the node.
    static func attentionProblem(_ op: Attention, _ node: CUDANode) -> Result<CUDAAttentionGenerator.Problem, EmberError> {
        guard node.outputs.count == 1 else {
            return .failure(EmberError(.unsupported, "attention's present_key, present_value and QK outputs are not generated"))
        }
        guard op.softcap == 0 else { return .failure(EmberError(.unsupported, "attention with softcap \(op.softcap) is not generated")) }
        guard op.leftWindowSize < 0, op.rightWindowSize < 0 else {
            return .failure(EmberError(.unsupported, "attention with a sliding window is not generated"))
        }
        let given = { (i: Int) in node.inputs.count > i && node.inputs[i] != nil }
        guard !given(4), !given(5) else { return .failure(EmberError(.unsupported, "attention with past_key and past_value is not generated")) }
        guard !given(6) else { return .failure(EmberError(.unsupported, "attention with nonpad_kv_seqlen is not generated")) }
        guard node.inputs.count >= 3, let q = node.inputs[0], let k = node.inputs[1], let v = node.inputs[2] else {
            return .failure(EmberError(.unsupported, "expected Q, K and V"))
        }
        guard CUDAPrelude.dtypes.contains(q.dtype), k.dtype == q.dtype, v.dtype == q.dtype else {
            return .failure(EmberError(.unsupported, "Q, K and V are \(q.dtype), \(k.dtype), \(v.dtype); expected all f32, f16 or bf16"))
        }
        let rank = q.shape.count
        guard rank == 3 || rank == 4, k.shape.count == rank, v.shape.count == rank else {
            return .failure(EmberError(.unsupported, "Q, K and V have shapes \(q.shape), \(k.shape), \(v.shape); expected all 3-D or all 4-D"))
        }
        var p = CUDAAttentionGenerator.Problem(
            dtype: q.dtype, batch: q.shape[0], qHeads: 0, kvHeads: 0, qSeq: 0, kvSeq: 0, headSize: 0, valueSize: 0,
            threeD: rank == 3, scale: 0, causal: op.isCausal, mask: nil)
        if rank == 4 {
            (p.qHeads, p.qSeq, p.headSize) = (q.shape[1], q.shape[2], q.shape[3])
            (p.kvHeads, p.kvSeq, p.valueSize) = (k.shape[1], k.shape[2], v.shape[3])
            guard k.shape == [p.batch, p.kvHeads, p.kvSeq, p.headSize], v.shape[..<3] == k.shape[..<3] else {
                return .failure(EmberError(.unsupported, "Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree"))
            }
        } else {
            guard let qHeads = op.qNumHeads, let kvHeads = op.kvNumHeads else {
                return .failure(EmberError(.unsupported, "3-D attention needs q_num_heads and kv_num_heads"))
            }
            (p.qHeads, p.kvHeads, p.qSeq, p.kvSeq) = (qHeads, kvHeads, q.shape[1], k.shape[1])
            guard q.shape[2] % qHeads == 0, k.shape[2] % kvHeads == 0, v.shape[2] % kvHeads == 0 else {
                return .failure(EmberError(.unsupported, "hidden sizes \(q.shape[2]), \(k.shape[2]), \(v.shape[2]) do not split into \(qHeads) and \(kvHeads) heads"))
            }
            (p.headSize, p.valueSize) = (q.shape[2] / qHeads, v.shape[2] / kvHeads)
            guard k.shape == [p.batch, p.kvSeq, kvHeads * p.headSize], v.shape[..<2] == k.shape[..<2] else {
                return .failure(EmberError(.unsupported, "Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree"))
            }
        }
        guard [p.batch, p.qHeads, p.kvHeads, p.qSeq, p.kvSeq, p.headSize, p.valueSize].allSatisfy({ $0 > 0 }) else {
            return .failure(EmberError(.unsupported, "attention of Q \(q.shape), K \(k.shape), V \(v.shape) is empty"))
        }
        guard p.qHeads % p.kvHeads == 0 else {
            return .failure(EmberError(.unsupported, "\(p.qHeads) query heads do not split over \(p.kvHeads) key-value heads"))
        }
        let largest = CUDAAttentionGenerator.largestHeadSize
        guard p.headSize <= largest, p.valueSize <= largest else {
            return .failure(EmberError(.unsupported, "head sizes \(p.headSize) and \(p.valueSize); the kernel takes at most \(largest)"))
        }
        let expected = rank == 4 ? [p.batch, p.qHeads, p.qSeq, p.valueSize] : [p.batch, p.qSeq, p.qHeads * p.valueSize]
        guard node.outputs[0].shape == expected, node.outputs[0].dtype == q.dtype else {
            return .failure(EmberError(.unsupported, "the output is \(node.outputs[0]); expected \(q.dtype)\(expected)"))
        }
        p.scale = op.scale ?? 1 / Double(p.headSize).squareRoot()
        if node.inputs.count > 3, let mask = node.inputs[3] {
            switch attentionMask(mask, p) {
            case .success(let m): p.mask = m
            case .failure(let why): return .failure(why)
            }
        }
        return .success(p)
    }

    /// The mask as the kernel reads it: padded on the left to `[batch, heads, queries, keys]`,
    /// the first three dims broadcast (stride 0) or full, the keys contiguous and at most all
    /// of them.
    private static func attentionMask(_ mask: CUDATensorType, _ p: CUDAAttentionGenerator.Problem) -> Result<CUDAAttentionGenerator.Mask, EmberError> {
        guard mask.dtype == .bool || CUDAPrelude.dtypes.contains(mask.dtype) else {
            return .failure(EmberError(.unsupported, "attn_mask is \(mask.dtype); expected bool, f32, f16 or bf16"))
        }
        guard (1...4).contains(mask.shape.count) else {
            return .failure(EmberError(.unsupported, "attn_mask has rank \(mask.shape.count); expected 1 to 4"))
        }
        let shape = Array(repeating: 1, count: 4 - mask.shape.count) + mask.shape
        let target = [p.batch, p.qHeads, p.qSeq, p.kvSeq]
        guard (0..<3).allSatisfy({ shape[$0] == 1 || shape[$0] == target[$0] }), (1...p.kvSeq).contains(shape[3]) else {
            return .failure(EmberError(.unsupported, "attn_mask of shape \(mask.shape) does not broadcast to \(target)"))
        }
        let strides = Tensor.strides(of: shape)
        return .success(CUDAAttentionGenerator.Mask(
            dtype: mask.dtype, keys: shape[3], strides: (0..<3).map { shape[$0] == 1 ? 0 : strides[$0] }))
    }
}
