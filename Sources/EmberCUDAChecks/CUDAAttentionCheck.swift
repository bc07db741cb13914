import EmberIR
import EmberOps

extension CUDACheckCases {
    /// An attention op with these attributes.
    static func attentionOp(
        causal: Bool = false, qHeads: Int? = nil, kvHeads: Int? = nil, scale: Double? = nil
    ) throws -> Attention {
        var entries: [(String, Attribute)] = [("is_causal", .int(causal ? 1 : 0))]
        if let qHeads { entries.append(("q_num_heads", .int(qHeads))) }
        if let kvHeads { entries.append(("kv_num_heads", .int(kvHeads))) }
        if let scale { entries.append(("scale", .float(scale))) }
        return try Attention(attributes: Attributes(op: Attention.name, entries))
    }

    /// BERT's padding mask `[batch, 1, 1, seq]`: 0 for the first `seq - pad(b)` keys of each
    /// sequence, `masked` for the rest, with a different padding per sequence.
    static func paddingMask(batch: Int, seq: Int, masked: Double, dtype: DType = .f32) -> Tensor {
        var values: [Double] = []
        for b in 0..<batch {
            let valid = seq - (b * 37) % (seq / 2 + 1)
            values += (0..<seq).map { $0 < valid ? 0 : masked }
        }
        return Tensor(dtype, shape: [batch, 1, 1, seq], doubles: values)
    }

    /// 4 * batch * heads * queries * keys * head size: the two products.
    static func attentionFlops(_ b: Int, _ h: Int, _ sq: Int, _ sk: Int, _ d: Int) -> Double {
        4 * Double(b * h * sq * sk * d)
    }

    /// The BERT-base attention at sequence 128: fp16, `[batch, 12, 128, 64]`, padding mask.
    public static func bertAttention(batch: Int, seed: UInt64 = 300) throws -> CUDACheckCase {
        let shape = [batch, 12, 128, 64]
        return CUDACheckCase(
            name: "attention bert f16 [\(batch),12,128,64] + f32 mask [\(batch),1,1,128]", op: try attentionOp(),
            inputs: [random(.f16, shape, seed), random(.f16, shape, seed + 1), random(.f16, shape, seed + 2),
                     paddingMask(batch: batch, seq: 128, masked: -10000)],
            tolerance: 1e-2, flops: attentionFlops(batch, 12, 128, 128, 64))
    }

    /// Fused attention: both kernels (tensor cores for f16/bf16, FMA for f32 and odd head sizes),
    /// 4-D and 3-D forms, grouped-query heads, masks of each kind and broadcast, causal, tails.
    public static func attention(seed: UInt64 = 300) throws -> [CUDACheckCase] {
        var cases: [CUDACheckCase] = []
        func add(_ name: String, _ op: Attention, _ inputs: [Tensor?], _ dtype: DType, flops: Double? = nil) {
            cases.append(CUDACheckCase(
                name: "attention " + name, op: op, inputs: inputs, tolerance: tolerance(dtype), flops: flops))
        }
        func qkv(_ dtype: DType, _ q: [Int], _ k: [Int], _ v: [Int], _ s: UInt64) -> [Tensor?] {
            [random(dtype, q, s), random(dtype, k, s + 1), random(dtype, v, s + 2)]
        }
        cases.append(try bertAttention(batch: 32, seed: seed))
        cases.append(try bertAttention(batch: 1, seed: seed + 10))
        add("vit f16 [2,12,197,64]", try attentionOp(), qkv(.f16, [2, 12, 197, 64], [2, 12, 197, 64], [2, 12, 197, 64], seed + 20),
            .f16, flops: attentionFlops(2, 12, 197, 197, 64))
        add("vit bf16 3-D [2,197,768] heads 12", try attentionOp(qHeads: 12, kvHeads: 12),
            qkv(.bf16, [2, 197, 768], [2, 197, 768], [2, 197, 768], seed + 30), .bf16,
            flops: attentionFlops(2, 12, 197, 197, 64))
        add("f16 [8,12,100,64] + f16 mask [8,1,1,100], 4 warps a block", try attentionOp(),
            qkv(.f16, [8, 12, 100, 64], [8, 12, 100, 64], [8, 12, 100, 64], seed + 35)
                + [paddingMask(batch: 8, seq: 100, masked: -.infinity, dtype: .f16)], .f16)
        add("f32 [2,12,128,64] + f32 mask [2,1,1,128]", try attentionOp(),
            qkv(.f32, [2, 12, 128, 64], [2, 12, 128, 64], [2, 12, 128, 64], seed + 40)
                + [paddingMask(batch: 2, seq: 128, masked: -.infinity)], .f32)
        add("f32 3-D causal [2,197,320] heads 4, head 80", try attentionOp(causal: true, qHeads: 4, kvHeads: 4),
            qkv(.f32, [2, 197, 320], [2, 197, 320], [2, 197, 320], seed + 50), .f32)
        // Head sizes on the tensor cores, queries and keys of different odd lengths.
        for (i, (dtype, d)) in [(DType.f16, 32), (.bf16, 80), (.f16, 96), (.bf16, 128)].enumerated() {
            let s = seed + 60 + UInt64(10 * i)
            add("\(dtype) [2,3,77,\(d)] keys 150, scale 0.3", try attentionOp(scale: 0.3),
                qkv(dtype, [2, 3, 77, d], [2, 3, 150, d], [2, 3, 150, d], s), dtype)
        }
        // Grouped-query heads, causal, in both forms and both kernels.
        add("f16 3-D GQA causal q [2,100,512] kv [2,100,128], heads 8/2", try attentionOp(causal: true, qHeads: 8, kvHeads: 2),
            qkv(.f16, [2, 100, 512], [2, 100, 128], [2, 100, 128], seed + 100), .f16)
        // The last keys masked with the smallest f32, as Hugging Face's models write their masks.
        let lowest = Tensor(.f32, shape: [1, 1, 1, 50], doubles: (0..<50).map { $0 < 35 ? 0 : -Double(Float.greatestFiniteMagnitude) })
        add("f32 GQA [1,6,50,32] kv heads 3 + mask of the smallest float", try attentionOp(),
            qkv(.f32, [1, 6, 50, 32], [1, 3, 50, 32], [1, 3, 50, 32], seed + 110) + [lowest], .f32)
        add("bf16 GQA causal [3,4,129,64] kv heads 1", try attentionOp(causal: true),
            qkv(.bf16, [3, 4, 129, 64], [3, 1, 129, 64], [3, 1, 129, 64], seed + 120), .bf16)
        // Boolean masks, per query and head, one shorter than the keys; a value size unlike the key's.
        let bools = Tensor.random(.f32, [2, 1, 40, 70], in: 0...1, seed: seed + 130).doubles().map { $0 < 0.75 }
        add("f16 [2,4,40,64] keys 70, value 32, bool mask [2,1,40,70]", try attentionOp(),
            qkv(.f16, [2, 4, 40, 64], [2, 4, 70, 64], [2, 4, 70, 32], seed + 131)
                + [Tensor(shape: [2, 1, 40, 70], bools: bools)], .f16)
        let short = Tensor.random(.f32, [4, 30, 50], in: 0...1, seed: seed + 140).doubles().map { $0 < 0.5 }
        add("f32 [1,4,30,40] keys 60, bool mask [4,30,50]", try attentionOp(),
            qkv(.f32, [1, 4, 30, 40], [1, 4, 60, 40], [1, 4, 60, 40], seed + 141) + [Tensor(shape: [4, 30, 50], bools: short)],
            .f32)
        // An f16 additive mask per head and query, with rows masked whole (they give zeros).
        var rows = Tensor.random(.f32, [3, 20, 90], in: -4...0, seed: seed + 150).doubles()
        for h in 0..<3 { for j in 0..<90 { rows[(h * 20 + 2 * h + 1) * 90 + j] = -.infinity } }
        add("f16 [2,3,20,64] keys 90 + f16 mask [3,20,90], whole rows masked", try attentionOp(),
            qkv(.f16, [2, 3, 20, 64], [2, 3, 90, 64], [2, 3, 90, 64], seed + 151)
                + [Tensor(.f16, shape: [3, 20, 90], doubles: rows)], .f16)
        // Head sizes only the FMA kernel takes.
        add("f16 [2,2,33,40] on the FMA kernel, causal", try attentionOp(causal: true),
            qkv(.f16, [2, 2, 33, 40], [2, 2, 33, 40], [2, 2, 33, 40], seed + 160), .f16)
        add("f32 [1,2,5,128] keys 3", try attentionOp(),
            qkv(.f32, [1, 2, 5, 128], [1, 2, 3, 128], [1, 2, 3, 128], seed + 170), .f32)
        return cases
    }
}
