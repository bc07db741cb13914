import EmberIR
import Foundation

/// Scaled dot product attention, as ONNX `Attention` (opset 23 and later) defines it:
/// `softmax(softcap(Q K^T * scale) + bias) V`.
///
/// Inputs: `Q`, `K`, `V`, then optional `attn_mask`, `past_key`, `past_value`, `nonpad_kv_seqlen`.
/// 4-D inputs are `[batch, heads, seq, head_size]`; 3-D inputs are `[batch, seq, heads * head_size]`
/// with `q_num_heads` and `kv_num_heads` naming the heads. With fewer KV heads than query heads
/// (grouped-query attention) each KV head serves `q_heads / kv_heads` consecutive query heads.
/// The bias sums the mask (additive, or boolean where `true` attends; a mask shorter than the keys
/// is padded with masked positions), the causal mask (`is_causal`, aligned to the bottom right:
/// query `i` sees keys `j <= i + offset`, offset the number of past keys), the sliding window and
/// the padding mask from `nonpad_kv_seqlen`. A query row with every key masked gives zeros.
/// Outputs: `Y`, then optionally `present_key`, `present_value` (past and new keys and values,
/// 4-D) and the QK matrix selected by `qk_matmul_output_mode`.
///
///     attention(f32[1, 12, 128, 64], f32[1, 12, 128, 64], f32[1, 12, 128, 64]) -> f32[1, 12, 128, 64]
public struct Attention: Operator {
    public static let name = "attention"
    public static let inputArity: ClosedRange<Int> = 3...7
    public static let outputArity: ClosedRange<Int> = 1...4
    static let dtypes: Set<DType> = [.f64, .f32, .f16, .bf16]

    public var isCausal: Bool
    public var qNumHeads: Int?
    public var kvNumHeads: Int?
    public var scale: Double?
    public var softcap: Double
    public var qkMatmulOutputMode: Int
    public var softmaxPrecision: Int?
    public var leftWindowSize: Int
    public var rightWindowSize: Int

    public init(attributes: Attributes) throws {
        try attributes.expectOnly([
            "is_causal", "kv_num_heads", "left_window_size", "q_num_heads", "qk_matmul_output_mode",
            "right_window_size", "scale", "softcap", "softmax_precision",
        ])
        isCausal = try attributes.bool("is_causal", default: false)
        qNumHeads = try attributes.int("q_num_heads")
        kvNumHeads = try attributes.int("kv_num_heads")
        scale = try attributes.float("scale")
        softcap = try attributes.float("softcap", default: 0)
        qkMatmulOutputMode = try attributes.int("qk_matmul_output_mode", default: 0)
        softmaxPrecision = try attributes.int("softmax_precision")
        leftWindowSize = try attributes.int("left_window_size", default: -1)
        rightWindowSize = try attributes.int("right_window_size", default: -1)
        guard (0...3).contains(qkMatmulOutputMode) else {
            throw EmberError.op(Self.name, "attribute 'qk_matmul_output_mode' expected 0 to 3, received \(qkMatmulOutputMode)")
        }
        for (name, heads) in [("q_num_heads", qNumHeads), ("kv_num_heads", kvNumHeads)] {
            if let heads, heads < 1 {
                throw EmberError.op(Self.name, "attribute '\(name)' expected a positive value, received \(heads)")
            }
        }
        guard leftWindowSize >= -1, rightWindowSize >= -1 else {
            throw EmberError.op(Self.name, "window sizes expected -1 or more, received \(leftWindowSize) and \(rightWindowSize)")
        }
        if let code = softmaxPrecision, DType(onnxCode: code).map(DType.floatingPoint.contains) != true {
            throw EmberError.op(Self.name, "attribute 'softmax_precision' expected a floating point type code, received \(code)")
        }
    }

    public var attributes: Attributes {
        var entries: [(String, Attribute)] = [
            ("is_causal", .int(isCausal ? 1 : 0)), ("softcap", .float(softcap)),
            ("qk_matmul_output_mode", .int(qkMatmulOutputMode)),
            ("left_window_size", .int(leftWindowSize)), ("right_window_size", .int(rightWindowSize)),
        ]
        if let qNumHeads { entries.append(("q_num_heads", .int(qNumHeads))) }
        if let kvNumHeads { entries.append(("kv_num_heads", .int(kvNumHeads))) }
        if let scale { entries.append(("scale", .float(scale))) }
        if let softmaxPrecision { entries.append(("softmax_precision", .int(softmaxPrecision))) }
        return Attributes(op: Self.name, entries)
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (q, k, v) = (try inputs.type(0), try inputs.type(1), try inputs.type(2))
        try q.expectDType(Self.dtypes, Self.name, input: "Q")
        try Elementwise.expectSameDType(q.dtype, k.dtype, Self.name)
        try Elementwise.expectSameDType(q.dtype, v.dtype, Self.name)
        if inputs.has(3) {
            let mask = try inputs.type(3)
            guard mask.dtype == .bool || mask.dtype.isFloatingPoint else {
                throw EmberError(.typeMismatch, "[\(Self.name)] attn_mask has dtype \(mask.dtype), expected bool or floating point")
            }
        }
        guard inputs.has(4) == inputs.has(5) else {
            throw EmberError.op(Self.name, "past_key and past_value must be given together")
        }
        let dtype = q.dtype
        let unknown = TensorType(dtype, nil)
        let rank = q.rank ?? k.rank ?? v.rank
        guard let rank, let qs = q.shape, let ks = k.shape, let vs = v.shape else {
            return [unknown] + Array(repeating: unknown, count: max(outputCount - 1, 0))
        }
        guard rank == 3 || rank == 4, qs.count == rank, ks.count == rank, vs.count == rank else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] Q, K and V have ranks \(qs.count), \(ks.count), \(vs.count), expected all 3 or all 4")
        }
        let batch = qs[0], seq = qs[rank - 2 == 2 ? 2 : 1]
        var kvHeads: Dim, kvSeq: Dim, headSize: Dim, valueSize: Dim, y: [Dim]
        if rank == 4 {
            kvHeads = ks[1]
            kvSeq = ks[2]
            headSize = ks[3]
            valueSize = vs[3]
            y = [batch, qs[1], qs[2], vs[3]]
        } else {
            guard let qh = qNumHeads, let kvh = kvNumHeads else {
                throw EmberError.op(Self.name, "3-D inputs need attributes 'q_num_heads' and 'kv_num_heads'")
            }
            kvHeads = .known(kvh)
            kvSeq = ks[1]
            headSize = ks[2].value.map { .known($0 / kvh) } ?? .unknown
            valueSize = vs[2].value.map { .known($0 / kvh) } ?? .unknown
            y = [batch, seq, valueSize.value.map { .known($0 * qh) } ?? .unknown]
        }
        var total = kvSeq
        if inputs.has(4), let past = try inputs.type(4).shape {
            guard past.count == 4 else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] past_key has rank \(past.count), expected 4")
            }
            if let p = past[2].value, let l = kvSeq.value { total = .known(p + l) } else { total = .unknown }
        }
        var outputs = [TensorType(dtype, y)]
        if outputCount > 1 { outputs.append(TensorType(dtype, [batch, kvHeads, total, headSize])) }
        if outputCount > 2 { outputs.append(TensorType(dtype, [batch, kvHeads, total, valueSize])) }
        if outputCount > 3 {
            let heads: Dim = rank == 4 ? qs[1] : .known(qNumHeads ?? 0)
            let qSeq: Dim = rank == 4 ? qs[2] : qs[1]
            outputs.append(TensorType(dtype, [batch, heads, qSeq, total]))
        }
        return outputs
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (q, k, v) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name), try inputs.required(2, Self.name))
        let (mask, pastKey, pastValue, nonpad) = (inputs.optional(3), inputs.optional(4), inputs.optional(5), inputs.optional(6))
        try q.expectDType(Self.dtypes, Self.name, input: "Q")
        try Elementwise.expectSameDType(q.dtype, k.dtype, Self.name)
        try Elementwise.expectSameDType(q.dtype, v.dtype, Self.name)
        guard (pastKey == nil) == (pastValue == nil) else {
            throw EmberError.op(Self.name, "past_key and past_value must be given together")
        }
        guard q.rank == k.rank, q.rank == v.rank, q.rank == 3 || q.rank == 4 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] Q, K and V have shapes \(q.shape), \(k.shape), \(v.shape), expected all 3-D or all 4-D")
        }
        let threeD = q.rank == 3
        let work: DType = q.dtype == .f32 ? .f32 : .f64

        // Everything as [batch, heads, seq, size].
        let query: Tensor, key: Tensor, value: Tensor
        if threeD {
            guard let qh = qNumHeads, let kvh = kvNumHeads else {
                throw EmberError.op(Self.name, "3-D inputs need attributes 'q_num_heads' and 'kv_num_heads'")
            }
            query = try Self.splitHeads(q.cast(to: work), heads: qh, input: "Q")
            key = try Self.splitHeads(k.cast(to: work), heads: kvh, input: "K")
            value = try Self.splitHeads(v.cast(to: work), heads: kvh, input: "V")
        } else {
            (query, key, value) = (q.cast(to: work), k.cast(to: work), v.cast(to: work))
        }
        let (batch, qHeads, seq, headSize) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
        let kvHeads = key.shape[1]
        guard key.shape[0] == batch, value.shape[0] == batch, value.shape[1] == kvHeads, value.shape[2] == key.shape[2],
              key.shape[3] == headSize
        else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] Q \(q.shape), K \(k.shape) and V \(v.shape) do not agree")
        }
        guard kvHeads > 0, qHeads % kvHeads == 0 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] \(qHeads) query heads do not split over \(kvHeads) key-value heads")
        }
        let valueSize = value.shape[3]
        var presentKey = key, presentValue = value
        if let pastKey, let pastValue {
            try Elementwise.expectSameDType(q.dtype, pastKey.dtype, Self.name)
            try Elementwise.expectSameDType(q.dtype, pastValue.dtype, Self.name)
            guard pastKey.rank == 4, pastValue.rank == 4,
                  pastKey.shape[0] == batch, pastKey.shape[1] == kvHeads, pastKey.shape[3] == headSize,
                  pastValue.shape[0] == batch, pastValue.shape[1] == kvHeads, pastValue.shape[3] == valueSize,
                  pastKey.shape[2] == pastValue.shape[2]
            else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] past_key \(pastKey.shape) and past_value \(pastValue.shape) do not match K \(key.shape) and V \(value.shape)")
            }
            presentKey = Self.concatenateSequence(pastKey.cast(to: work), key)
            presentValue = Self.concatenateSequence(pastValue.cast(to: work), value)
        }
        let past = pastKey?.shape[2] ?? 0
        let total = presentKey.shape[2]
        let reps = qHeads / kvHeads
        let products = batch * qHeads

        // Raw scores Q K^T, one [seq, total] matrix per batch and query head.
        let kvHead = { (t: Int) in (t / qHeads) * kvHeads + (t % qHeads) / reps }
        let scoresStorage = MatrixProduct.multiply(
            MatrixOperand(tensor: query, offsets: (0..<products).map { $0 * seq * headSize }, rowStride: headSize, colStride: 1),
            MatrixOperand(tensor: presentKey, offsets: (0..<products).map { kvHead($0) * total * headSize }, rowStride: 1, colStride: headSize),
            m: seq, n: total, k: headSize)
        let scale = self.scale ?? 1 / Double(headSize).squareRoot()
        var scores = Tensor(shape: [], storage: scoresStorage).doubles()
        for i in scores.indices { scores[i] *= scale }
        var captured: [Double]? = qkMatmulOutputMode == 0 && outputCount > 3 ? scores : nil
        if softcap > 0 {
            for i in scores.indices { scores[i] = softcap * tanh(scores[i] / softcap) }
        }
        if qkMatmulOutputMode == 1 && outputCount > 3 { captured = scores }

        let bias = try self.bias(mask: mask, nonpad: nonpad, batch: batch, heads: qHeads, seq: seq, total: total, past: past)
        var probabilities = scores
        var biasRow = [Double](repeating: 0, count: total)
        scores.withUnsafeMutableBufferPointer { scores in
            probabilities.withUnsafeMutableBufferPointer { probabilities in
                biasRow.withUnsafeMutableBufferPointer { biasRow in
                    for row in 0..<(products * seq) {
                        let t = row / seq, i = row % seq
                        let base = row * total
                        var allMasked = false
                        if let bias {
                            bias.fill(biasRow, batch: t / qHeads, head: t % qHeads, query: i)
                            allMasked = true
                            for j in 0..<total {
                                if biasRow[j] != -.infinity { allMasked = false }
                                scores[base + j] += biasRow[j]
                            }
                        }
                        if allMasked {
                            for j in 0..<total { probabilities[base + j] = 0 }
                            continue
                        }
                        var top = -Double.infinity
                        for j in 0..<total { top = max(top, scores[base + j]) }
                        if top == -.infinity { top = 0 }
                        var sum = 0.0
                        for j in 0..<total {
                            let e = exp(scores[base + j] - top)
                            probabilities[base + j] = e
                            sum += e
                        }
                        let inverse = sum == 0 ? 1 : 1 / sum
                        for j in 0..<total { probabilities[base + j] *= inverse }
                    }
                }
            }
        }
        if qkMatmulOutputMode == 2 && outputCount > 3 { captured = scores }
        if qkMatmulOutputMode == 3 && outputCount > 3 { captured = probabilities }

        let probs = Tensor(work, shape: [products, seq, total], doubles: probabilities)
        let context = MatrixProduct.multiply(
            MatrixOperand(tensor: probs, offsets: (0..<products).map { $0 * seq * total }, rowStride: total, colStride: 1),
            MatrixOperand(tensor: presentValue, offsets: (0..<products).map { kvHead($0) * total * valueSize }, rowStride: valueSize, colStride: 1),
            m: seq, n: valueSize, k: total)
        var y = Tensor(shape: [batch, qHeads, seq, valueSize], storage: context)
        if threeD { y = Self.mergeHeads(y) }
        var outputs = [y.cast(to: q.dtype)]
        if outputCount > 1 { outputs.append(presentKey.cast(to: q.dtype)) }
        if outputCount > 2 { outputs.append(presentValue.cast(to: q.dtype)) }
        if outputCount > 3 {
            outputs.append(Tensor(q.dtype, shape: [batch, qHeads, seq, total], doubles: captured ?? scores))
        }
        return outputs
    }

    /// The additive bias of the mask, causal, window and padding terms, or nil when there is none.
    private func bias(
        mask: Tensor?, nonpad: Tensor?, batch: Int, heads: Int, seq: Int, total: Int, past: Int
    ) throws -> AttentionBias? {
        var bias = AttentionBias(
            total: total, causal: isCausal, left: leftWindowSize, right: rightWindowSize,
            offsets: Array(repeating: past, count: batch))
        if let mask {
            guard mask.dtype == .bool || mask.dtype.isFloatingPoint else {
                throw EmberError(.typeMismatch, "[\(Self.name)] attn_mask has dtype \(mask.dtype), expected bool or floating point")
            }
            guard mask.rank >= 1, mask.rank <= 4 else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] attn_mask has rank \(mask.rank), expected 1 to 4")
            }
            let shape = Array(repeating: 1, count: 4 - mask.rank) + mask.shape
            let target = [batch, heads, seq, total]
            for d in 0..<3 where shape[d] != 1 && shape[d] != target[d] {
                throw EmberError(.shapeMismatch, "[\(Self.name)] attn_mask of shape \(mask.shape) does not broadcast to \(target)")
            }
            guard shape[3] <= total else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] attn_mask of shape \(mask.shape) has more than the \(total) keys")
            }
            let strides = Tensor.strides(of: shape)
            bias.maskKeys = shape[3]
            bias.maskStrides = (0..<3).map { shape[$0] == 1 ? 0 : strides[$0] }
            bias.mask = mask.dtype == .bool ? mask.bools().map { $0 ? 0 : -.infinity } : mask.doubles()
        }
        if let nonpad {
            guard nonpad.dtype == .i64, nonpad.count == batch else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] nonpad_kv_seqlen expected \(batch) i64 values, received \(nonpad.dtype)\(nonpad.shape)")
            }
            guard past == 0 else {
                throw EmberError.op(Self.name, "nonpad_kv_seqlen cannot be combined with past_key and past_value")
            }
            let lengths = nonpad.ints()
            bias.lengths = lengths
            bias.offsets = lengths.map { $0 - seq }
        }
        let any = mask != nil || nonpad != nil || isCausal || leftWindowSize >= 0 || rightWindowSize >= 0
        return any ? bias : nil
    }

    /// `[batch, seq, heads * size]` as `[batch, heads, seq, size]`.
    static func splitHeads(_ x: Tensor, heads: Int, input: String) throws -> Tensor {
        let (b, s, hidden) = (x.shape[0], x.shape[1], x.shape[2])
        guard hidden % heads == 0 else {
            throw EmberError(.shapeMismatch, "[\(name)] \(input) has hidden size \(hidden), which does not split into \(heads) heads")
        }
        let size = hidden / heads
        let indices = LabeledTensor.walk(shape: [b, heads, s, size], strides: [s * hidden, size, hidden, 1])
        return x.gathering(indices, shape: [b, heads, s, size])
    }

    /// `[batch, heads, seq, size]` as `[batch, seq, heads * size]`.
    static func mergeHeads(_ x: Tensor) -> Tensor {
        let (b, h, s, size) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let indices = LabeledTensor.walk(shape: [b, s, h, size], strides: [h * s * size, size, s * size, 1])
        return x.gathering(indices, shape: [b, s, h * size])
    }

    /// Two `[batch, heads, seq, size]` tensors joined along the sequence.
    static func concatenateSequence(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (batch, heads, la, size) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        let lb = b.shape[2]
        let joined = Tensor(shape: [a.count + b.count], storage: Tensor.concatenatedStorage([a, b]) ?? a.storage)
        var indices: [Int] = []
        indices.reserveCapacity(joined.count)
        for t in 0..<(batch * heads) {
            indices += (t * la * size)..<((t + 1) * la * size)
            indices += (a.count + t * lb * size)..<(a.count + (t + 1) * lb * size)
        }
        return joined.gathering(indices, shape: [batch, heads, la + lb, size])
    }
}

/// The additive attention bias, one query row at a time.
struct AttentionBias {
    var total: Int
    var causal: Bool
    var left: Int
    var right: Int
    /// Per batch, the number of valid keys before the query block.
    var offsets: [Int]
    var mask: [Double]? = nil
    var maskKeys = 0
    var maskStrides = [0, 0, 0]
    var lengths: [Int]? = nil

    /// Writes the bias of keys `0..<total` for one query into `row`.
    func fill(_ row: UnsafeMutableBufferPointer<Double>, batch b: Int, head h: Int, query i: Int) {
        if let mask {
            let base = b * maskStrides[0] + h * maskStrides[1] + i * maskStrides[2]
            for j in 0..<maskKeys { row[j] = mask[base + j] }
            for j in maskKeys..<total { row[j] = -.infinity }
        } else {
            for j in 0..<total { row[j] = 0 }
        }
        let position = i + offsets[b]
        // Keys outside [low, high] are masked.
        var low = 0, high = total - 1
        if causal { high = min(high, position) }
        if left >= 0 { low = max(low, position - left) }
        if right >= 0 { high = min(high, position + right) }
        if let lengths { high = min(high, lengths[b] - 1) }
        for j in 0..<total where j < low || j > high { row[j] = -.infinity }
    }
}
