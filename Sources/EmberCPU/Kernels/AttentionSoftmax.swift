extension AttentionKernel.Work {
    /// The softmax over keys of sixteen queries of the block, `first` to `first + 15`, held in
    /// lanes `column..<column + 16` of the transposed scores: softcap, mask, causal and window
    /// terms first, then the exponentials left in `scores` and one over their sums in
    /// `rowScale`. Lanes past the last query compute harmlessly on zero scores. `masks` is a
    /// mask per query, transposed (see `Work.masks`), at these queries. `top` is the largest
    /// score of each query where the key product found it (see `fusesBias`).
    func softmax(b: Int, h: Int, column: Int, first: Int, masks: UnsafePointer<Float>?, top: FloatVector?) {
        let x = scores + column
        let top = top ?? Terms(self, b: b, h: h, first: first, masks: masks).map { $0.apply(x, keys: g.keys) }
            ?? Self.maximum(x, keys: g.keys)
        // A query whose every key is masked gives zeros (the reference's rule): its sum is 0.
        let shift = top.replacing(with: 0, where: top .== FloatVector(repeating: -.infinity))
        let sum = Self.exponentiate(x, keys: g.keys, shift: shift)
        VectorLoops.store((1 / sum).replacing(with: 0, where: sum .== FloatVector()), rowScale + column)
    }

    /// The largest of `x[j * block]` over the keys, lane by lane. (Kept out of line, like the
    /// two loops below, so that each stays small and fully inlined.)
    @inline(never) static func maximum(_ x: UnsafeMutablePointer<Float>, keys: Int) -> FloatVector {
        var top = FloatVector(repeating: -.infinity)
        var p = x
        for _ in 0..<keys {
            top = VectorMath.maximum(top, VectorLoops.load(p))
            p += AttentionKernel.block
        }
        return top
    }

    /// `x[j * block] = e^(x[j * block] - shift)` over the keys, returning their sums.
    @inline(never) static func exponentiate(_ x: UnsafeMutablePointer<Float>, keys: Int, shift: FloatVector) -> FloatVector {
        var sum = FloatVector()
        var p = x
        for _ in 0..<keys {
            let e = VectorMath.exp(VectorLoops.load(p) - shift)
            VectorLoops.store(e, p)
            sum += e
            p += AttentionKernel.block
        }
        return sum
    }

    /// What is added to, or masks, the scaled scores of sixteen queries, key by key. Plain
    /// optionals and flags rather than an enum with payloads: the loop over keys tests them
    /// without copying anything.
    struct Terms {
        let softcap: Float
        /// A float mask with one value per key for every query: `perKey[j]`.
        let perKey: UnsafePointer<Float>?
        /// A boolean mask with one value per key for every query: `keepPerKey[j]`.
        let keepPerKey: UnsafePointer<Bool>?
        /// A mask per query and key, transposed: key `j` at `perQuery + j * perQueryStride`.
        let perQuery: UnsafePointer<Float>?
        let perQueryStride: Int
        /// The keys the mask covers; later keys are masked through `high`.
        let biasKeys: Int
        /// Each lane's first and last unmasked key (causal, windows, a mask shorter than the keys).
        let low: IntVector, high: IntVector
        let windowed: Bool

        /// Nil when there is nothing to apply.
        init?(_ work: borrowing AttentionKernel.Work, b: Int, h: Int, first: Int, masks: UnsafePointer<Float>?) {
            let (g, s) = (work.g, work.s)
            softcap = s.softcap
            var perKey: UnsafePointer<Float>? = nil, keepPerKey: UnsafePointer<Bool>? = nil
            var biasKeys = g.keys
            if let layout = g.mask, let data = work.mask {
                let offset = b * layout.batchStride + h * layout.headStride
                biasKeys = layout.keys
                if layout.queryStride == 0 {
                    if layout.isBool { keepPerKey = UnsafePointer(data.assumingMemoryBound(to: Bool.self) + offset) }
                    else { perKey = UnsafePointer(data.assumingMemoryBound(to: Float.self) + offset) }
                }
            }
            (self.perKey, self.keepPerKey, self.perQuery, perQueryStride) = (perKey, keepPerKey, masks, work.maskColumns)
            self.biasKeys = biasKeys
            // Without past keys, query i sits at position i. Bounds are clamped to -1...keys so
            // that they fit 32-bit lanes whatever the window sizes.
            var low = IntVector(repeating: 0), high = IntVector(repeating: 0)
            for lane in 0..<16 {
                let position = first + lane
                var lo = 0, hi = min(g.keys, biasKeys) - 1
                if s.causal { hi = min(hi, position) }
                if s.left >= 0 { lo = max(lo, position - s.left) }
                if s.right >= 0 { hi = min(hi, position + s.right) }
                low[lane] = Int32(max(-1, min(lo, g.keys)))
                high[lane] = Int32(max(-1, min(hi, g.keys)))
            }
            (self.low, self.high) = (low, high)
            windowed = s.causal || s.left >= 0 || s.right >= 0 || biasKeys < g.keys
            if perKey == nil, keepPerKey == nil, masks == nil, softcap <= 0, !windowed { return nil }
        }

        /// Applies the terms to `x[j * block]` for every key in place; returns the largest of each lane.
        @inline(never) func apply(_ x: UnsafeMutablePointer<Float>, keys: Int) -> FloatVector {
            var top = FloatVector(repeating: -.infinity)
            var p = x
            for j in 0..<keys {
                let t = apply(VectorLoops.load(p), key: j)
                VectorLoops.store(t, p)
                top = VectorMath.maximum(top, t)
                p += AttentionKernel.block
            }
            return top
        }

        @inline(__always) func apply(_ scores: FloatVector, key j: Int) -> FloatVector {
            var t = scores
            if softcap > 0 { t = VectorMath.tanh(t / softcap) * softcap }
            if j < biasKeys {
                if let perKey {
                    t += perKey[j]
                } else if let keepPerKey {
                    if !keepPerKey[j] { t = FloatVector(repeating: -.infinity) }
                } else if let perQuery {
                    t += VectorLoops.load(perQuery + j * perQueryStride)
                }
            }
            if windowed {
                let key = IntVector(repeating: Int32(j))
                t = t.replacing(with: -.infinity, where: key .< low .| key .> high)
            }
            return t
        }
    }
}
