extension AttentionKernel {
    /// Query rows per block: a multiple of the 16 lanes of a vector and of the 6 rows of a tile.
    static let block = 48

    /// One thread's computation of blocks of query rows, in its own scratch.
    ///
    /// A block's scores are held transposed, `scores[j * block + i]` for key `j` and query `i`,
    /// so that every step runs across queries in vector lanes:
    /// - `S^T = K Q^T`: tiles of six keys (broadcast from K's rows) by sixteen queries (a row of
    ///   the block's queries, transposed and scaled into scratch once per block);
    /// - the softmax over keys is a column operation: maxima, exponentials and sums of whole
    ///   vectors down the key rows, with no horizontal reductions;
    /// - `O = P V`: tiles of six queries (six neighbouring values of a key's row of `S^T`,
    ///   broadcast) by sixteen value columns, each output row divided by its sum as it is stored.
    ///   V is copied once per batch and KV head into strips of sixteen columns, so that the tile
    ///   streams through contiguous memory: V's own rows lie a whole token apart in the 3-D form
    ///   (3 KB in BERT), a stride at which its rows crowd into a few sets of the L1 cache.
    struct Work {
        let g: Geometry
        let s: Settings
        let q, k, v, y: UnsafeMutablePointer<Float>
        let mask: UnsafeMutableRawPointer?
        /// `queriesT[c * block + i] = scale * Q[i, c]`, zero past the block's last query.
        let queriesT: UnsafeMutablePointer<Float>
        /// One over each query's sum of exponentials; 0 where every key is masked.
        let rowScale: UnsafeMutablePointer<Float>
        /// Each query's largest score, where `fusesBias`.
        let tops: UnsafeMutablePointer<Float>
        /// Whether the only term is a mask over every key, float or per query (BERT's padding),
        /// or none: then the key product adds the mask and takes each query's largest score as
        /// it stores the scores, and the softmax needs no pass of its own for them.
        let fusesBias: Bool
        /// `scores[j * block + i]`, the scores and then the exponentials.
        let scores: UnsafeMutablePointer<Float>
        /// `values[(s * keys + j) * 16 + c] = V[j, 16 s + c]`, zero past the last column.
        let values: UnsafeMutablePointer<Float>
        /// The batch and KV head whose V is in `values`.
        var packedHead: (b: Int, kvh: Int)? = nil
        /// A mask with values per query, transposed like the scores: `masks[j * maskColumns + i]`
        /// for key `j` and query `first + i` of the cached queries, booleans as 0 or -infinity.
        /// Where it fits in 16 MB it holds every query, so that heads which share the mask (BERT
        /// expands its padding mask over queries, not heads) transpose it once; else one block.
        let masks: UnsafeMutablePointer<Float>
        let maskColumns: Int
        /// The mask offset (of batch and head) and first query that `masks` holds.
        var cachedMask: (offset: Int, first: Int)? = nil

        /// The floats of scratch one thread needs.
        static func scratchFloats(_ g: Geometry) -> Int {
            (g.size + 2 + g.keys) * block + g.keys * strips(g.valueSize) * 16 + (g.mask?.keys ?? 0) * maskColumns(g)
        }

        /// The queries `masks` holds: none without a mask per query.
        static func maskColumns(_ g: Geometry) -> Int {
            guard let mask = g.mask, mask.queryStride != 0 else { return 0 }
            let all = (g.seq + block - 1) / block * block
            return mask.keys * all <= 1 << 22 ? all : block
        }

        /// Strips of sixteen value columns.
        static func strips(_ valueSize: Int) -> Int { (valueSize + 15) / 16 }

        init(
            g: Geometry, s: Settings, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
            v: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, mask: UnsafeMutableRawPointer?,
            scratch: UnsafeMutablePointer<Float>
        ) {
            (self.g, self.s, self.q, self.k, self.v, self.y, self.mask) = (g, s, q, k, v, y, mask)
            queriesT = scratch
            rowScale = scratch + g.size * block
            tops = rowScale + block
            scores = tops + block
            values = scores + g.keys * block
            masks = values + g.keys * Self.strips(g.valueSize) * 16
            maskColumns = Self.maskColumns(g)
            let plainMask = g.mask.map { ($0.queryStride != 0 || !$0.isBool) && $0.keys == g.keys } ?? true
            fusesBias = plainMask && s.softcap <= 0 && !s.causal && s.left < 0 && s.right < 0
        }

        /// Query rows `rows` (at most `block` of them) of batch `b`, head `h`.
        mutating func run(b: Int, h: Int, rows: Range<Int>) {
            let kvh = h / (g.qHeads / g.kvHeads)
            if packedHead == nil || packedHead! != (b, kvh) {
                packValues(b: b, kvh: kvh)
                packedHead = (b, kvh)
            }
            var maskColumn: UnsafePointer<Float>? = nil
            if maskColumns > 0, let layout = g.mask {
                let offset = b * layout.batchStride + h * layout.headStride
                let first = maskColumns == AttentionKernel.block ? rows.lowerBound : 0
                if cachedMask == nil || cachedMask! != (offset, first) {
                    transposeMask(offset: offset, first: first)
                    cachedMask = (offset, first)
                }
                maskColumn = UnsafePointer(masks + rows.lowerBound - first)
            }
            let vectors = (rows.count + 15) / 16
            packQueries(b: b, h: h, rows: rows, vectors: vectors)
            var bias: UnsafePointer<Float>? = nil
            if fusesBias, maskColumn == nil, let layout = g.mask, let mask {
                bias = UnsafePointer(mask.assumingMemoryBound(to: Float.self) + b * layout.batchStride + h * layout.headStride)
            }
            multiplyKeys(b: b, kvh: kvh, vectors: vectors, bias: bias, biasColumns: fusesBias ? maskColumn : nil)
            for lane in 0..<vectors {
                softmax(
                    b: b, h: h, column: 16 * lane, first: rows.lowerBound + 16 * lane,
                    masks: maskColumn.map { $0 + 16 * lane }, top: fusesBias ? VectorLoops.load(tops + 16 * lane) : nil)
            }
            multiplyValues(b: b, h: h, rows: rows)
        }

        /// Fills `values` with V of batch `b`, KV head `kvh`.
        func packValues(b: Int, kvh: Int) {
            let base = v + b * g.v.batch + kvh * g.v.head
            for strip in 0..<Self.strips(g.valueSize) {
                let column = 16 * strip
                let width = min(16, g.valueSize - column)
                var out = values + strip * g.keys * 16
                for j in 0..<g.keys {
                    let row = base + j * g.v.row + column
                    VectorLoops.store(width == 16 ? VectorLoops.load(row) : VectorLoops.loadPartial(row, width), out)
                    out += 16
                }
            }
        }

        /// Fills `masks` from the mask at `offset`, queries from `first` on. Columns past the last
        /// query repeat it: their lanes are computed and never stored.
        func transposeMask(offset: Int, first: Int) {
            guard let layout = g.mask, let mask else { return }
            for i in 0..<maskColumns {
                let row = offset + min(first + i, g.seq - 1) * layout.queryStride
                var out = masks + i
                if layout.isBool {
                    let keep = mask.assumingMemoryBound(to: Bool.self) + row
                    for j in 0..<layout.keys {
                        out.pointee = keep[j] ? 0 : -.infinity
                        out += maskColumns
                    }
                } else {
                    let values = mask.assumingMemoryBound(to: Float.self) + row
                    for j in 0..<layout.keys {
                        out.pointee = values[j]
                        out += maskColumns
                    }
                }
            }
        }

        /// Fills `queriesT` for `rows`, zero up to `vectors` whole vectors.
        func packQueries(b: Int, h: Int, rows: Range<Int>, vectors: Int) {
            let base = q + b * g.q.batch + h * g.q.head + rows.lowerBound * g.q.row
            for i in 0..<rows.count {
                let row = base + i * g.q.row
                var out = queriesT + i
                for c in 0..<g.size {
                    out.pointee = row[c] * s.scale
                    out += block
                }
            }
            for c in 0..<g.size {
                for i in rows.count..<(16 * vectors) { queriesT[c * block + i] = 0 }
            }
        }

        /// `scores = K Q^T` for every key and the block's queries, in tiles of six keys.
        /// With `fusesBias`, adds `bias[j]` (a mask per key) or `biasColumns[j * maskColumns + i]`
        /// (a mask per query, transposed) to the scores and leaves each query's largest score in
        /// `tops`.
        func multiplyKeys(
            b: Int, kvh: Int, vectors: Int, bias: UnsafePointer<Float>?, biasColumns: UnsafePointer<Float>?
        ) {
            let base = k + b * g.k.batch + kvh * g.k.head
            let keys = g.keys
            for lane in 0..<vectors { VectorLoops.store(FloatVector(repeating: -.infinity), tops + 16 * lane) }
            if keys < SmallGemm.rows {
                // Too few keys for one tile: each key alone, in a tile whose rows repeat it.
                for j in 0..<keys {
                    multiplyKeys(
                        from: base + j * g.k.row, keyRow: 0, storing: 1, at: j, vectors: vectors, bias: bias,
                        biasColumns: biasColumns)
                }
                return
            }
            var j = 0
            while j < keys {
                // The last tile ends at the last key, overlapping the one before where keys are
                // not a multiple of six: its rows are computed twice, the same both times.
                let first = min(j, keys - SmallGemm.rows)
                multiplyKeys(
                    from: base + first * g.k.row, keyRow: g.k.row, storing: SmallGemm.rows, at: first, vectors: vectors,
                    bias: bias, biasColumns: biasColumns)
                j += SmallGemm.rows
            }
        }

        @inline(__always) private func multiplyKeys(
            from a: UnsafeMutablePointer<Float>, keyRow: Int, storing rows: Int, at j: Int, vectors: Int,
            bias: UnsafePointer<Float>?, biasColumns: UnsafePointer<Float>?
        ) {
            for lane in 0..<vectors {
                var tile = SmallGemm.tile(k: g.size, a: a, aStep: 1, aRow: keyRow, b: queriesT + 16 * lane, ldb: block)
                if fusesBias {
                    // A tile whose rows repeat one key (keyRow 0) adds that key's bias to each.
                    let step = keyRow == 0 ? 0 : 1
                    if let bias { tile.add(bias + j, step: step) }
                    if let biasColumns {
                        tile.add(rows: biasColumns + j * maskColumns + 16 * lane, stride: step * maskColumns)
                    }
                    let top = tops + 16 * lane
                    VectorLoops.store(VectorMath.maximum(VectorLoops.load(top), tile.maximum()), top)
                }
                SmallGemm.store(tile, rows: rows, scores + j * block + 16 * lane, ldc: block)
            }
        }

        /// `y = P V` for the block's rows, each row divided by its sum, in tiles of six queries
        /// by sixteen value columns.
        func multiplyValues(b: Int, h: Int, rows: Range<Int>) {
            let out = y + b * g.y.batch + h * g.y.head + rows.lowerBound * g.y.row
            for strip in 0..<Self.strips(g.valueSize) {
                let column = 16 * strip
                let width = min(16, g.valueSize - column)
                // Tiles past the block's last query read scores of queries that are not stored:
                // the scratch is a whole block wide.
                var i = 0
                while i < rows.count {
                    let tile = SmallGemm.tile(
                        k: g.keys, a: scores + i, aStep: block, aRow: 1, b: values + strip * g.keys * 16, ldb: 16)
                    SmallGemm.store(
                        tile, rows: rows.count - i, out + i * g.y.row + column, ldc: g.y.row, width: width,
                        scale: rowScale + i)
                    i += SmallGemm.rows
                }
            }
        }
    }
}
