import EmberIR

/// Source index maps for data movement: every rearranging op computes, for each output element,
/// the flat index of the input element it copies, and hands the list to `Tensor.gathering`.
enum IndexMaps {
    /// Marks an output element that takes a fill value instead of an input element. Large enough that
    /// a sum of axis offsets containing it stays negative.
    static let fill = Int.min / 256

    /// For an output of shape `tables.map(\.count)`, the flat source index of each element in row-major
    /// order: element `(i0, i1, ...)` reads `tables[0][i0] + tables[1][i1] + ...`. Any sum that
    /// includes `fill` is negative.
    static func sums(_ tables: [[Int]]) -> [Int] {
        let rank = tables.count
        guard rank > 0 else { return [0] }
        let n = tables.reduce(1) { $0 * $1.count }
        guard n > 0 else { return [] }
        let inner = tables[rank - 1]
        var result = [Int](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: rank - 1)
        var base = 0
        for k in 0..<(rank - 1) { base = base &+ tables[k][0] }
        result.withUnsafeMutableBufferPointer { out in
            inner.withUnsafeBufferPointer { inner in
                var position = 0
                let outerCount = n / inner.count
                for _ in 0..<outerCount {
                    for j in 0..<inner.count {
                        out[position + j] = base &+ inner[j]
                    }
                    position += inner.count
                    var axis = rank - 2
                    while axis >= 0 {
                        let table = tables[axis]
                        base = base &- table[index[axis]]
                        index[axis] += 1
                        if index[axis] < table.count {
                            base = base &+ table[index[axis]]
                            break
                        }
                        index[axis] = 0
                        base = base &+ table[0]
                        axis -= 1
                    }
                }
            }
        }
        return result
    }

    /// The table of one axis that reads positions `start, start + step, ...` (`count` of them) with `stride`.
    static func strided(start: Int, step: Int, count: Int, stride: Int) -> [Int] {
        (0..<count).map { (start + $0 * step) * stride }
    }

    /// Source indices of `permuted(shape, perm)`: output axis `k` walks input axis `perm[k]`.
    static func transpose(_ shape: [Int], perm: [Int]) -> [Int] {
        let strides = Tensor.strides(of: shape)
        return sums(perm.map { strided(start: 0, step: 1, count: shape[$0], stride: strides[$0]) })
    }

    /// `x`'s elements followed by one element `value` (cast to `x`'s dtype), so that index `x.count`
    /// reads the fill value.
    static func appendingFill(_ x: Tensor, _ value: Tensor?) -> Tensor {
        let fill = value.map { $0.cast(to: x.dtype).reshaped([$0.count]) } ?? Tensor(filling: 0, x.dtype, shape: [1])
        let one = fill.count == 1 ? fill : fill.gathering([0], shape: [1])
        let storage = Tensor.concatenatedStorage([x, one]) ?? x.storage
        return Tensor(shape: [x.count + 1], storage: storage)
    }

    /// `x` gathered at `indices`, where negative indices (built from `fill`) read `value` instead.
    static func gatheringWithFill(_ x: Tensor, _ indices: [Int], shape: [Int], value: Tensor?) -> Tensor {
        guard indices.contains(where: { $0 < 0 }) else { return x.gathering(indices, shape: shape) }
        let extended = appendingFill(x, value)
        let last = x.count
        return extended.gathering(indices.map { $0 < 0 ? last : $0 }, shape: shape)
    }
}

extension Dim {
    /// The product of dims, keeping a single symbolic factor when all the others are known 1s.
    static func symbolicProduct(_ dims: some Collection<Dim>) -> Dim {
        var known = 1
        var others: [Dim] = []
        for d in dims {
            if let v = d.value { known *= v } else { others.append(d) }
        }
        if others.isEmpty { return .known(known) }
        if known == 0 { return .known(0) }
        if others.count == 1, known == 1 { return others[0] }
        return .unknown
    }

    /// The dim both types agree on, or a mismatch error for two different known sizes.
    static func merged(_ a: Dim, _ b: Dim, _ op: String) throws -> Dim {
        switch (a, b) {
        case (.known(let p), .known(let q)):
            guard p == q else { throw EmberError(.shapeMismatch, "[\(op)] dims \(p) and \(q) differ, expected equal") }
            return a
        case (.known, _): return a
        case (_, .known): return b
        default: return a == b ? a : (a == .unknown ? b : a)
        }
    }
}

extension OpInputs {
    /// The integers of constant input `i`, if it is present and constant.
    func constantInts(_ i: Int) -> [Int]? { constant(i)?.ints() }

    /// The number of elements of 1-D input `i`, when its type says so.
    func vectorLength(_ i: Int) -> Int? {
        guard i < types.count, let t = types[i], let shape = t.shape, shape.count == 1 else { return nil }
        return shape[0].value
    }
}

extension Tensor {
    /// The elements as integers, checking that the dtype is an integer type.
    func indexValues(_ op: String, input: String) throws -> [Int] {
        guard dtype == .i64 || dtype == .i32 else {
            throw EmberError(.typeMismatch, "[\(op)] \(input) has dtype \(dtype), expected i64 or i32")
        }
        return ints()
    }
}

/// Checks shared by the ops that read shapes, axes and indices from tensors.
enum DataMovementChecks {
    /// Throws unless `t` is an integer tensor of rank 0 or 1.
    static func expectIntegerVector(_ t: TensorType, _ op: String, input: String) throws {
        guard t.dtype == .i64 || t.dtype == .i32 else {
            throw EmberError(.typeMismatch, "[\(op)] \(input) has dtype \(t.dtype), expected i64")
        }
        if let r = t.rank, r > 1 {
            throw EmberError(.shapeMismatch, "[\(op)] \(input) has rank \(r), expected 1")
        }
    }

    /// An index in `-size..<size` made non-negative, or an error.
    static func index(_ i: Int, size: Int, _ op: String) throws -> Int {
        let j = i < 0 ? i + size : i
        guard j >= 0, j < size else {
            throw EmberError(.invalidArgument, "[\(op)] index \(i) is out of range for a dim of size \(size)")
        }
        return j
    }
}

extension DataMovementChecks {
    /// `a + b`, or an error when sizes from the model overflow.
    static func add(_ a: Int, _ b: Int, _ op: String) throws -> Int {
        let (r, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw EmberError(.invalidArgument, "[\(op)] size \(a) + \(b) overflows") }
        return r
    }

    /// `a * b`, or an error when sizes from the model overflow.
    static func multiply(_ a: Int, _ b: Int, _ op: String) throws -> Int {
        let (r, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw EmberError(.invalidArgument, "[\(op)] size \(a) * \(b) overflows") }
        return r
    }
}
