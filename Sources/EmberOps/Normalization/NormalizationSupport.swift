import EmberIR
enum NormParameters {
    /// A per-channel parameter (scale, bias, mean, variance): a tensor of `count` elements.
    static func perChannel(_ t: Tensor, count: Int, _ op: String, _ what: String) throws -> [Double] {
        try t.expectDType(DType.floatingPoint, op, input: what)
        guard t.rank == 1, t.count == count else {
            throw EmberError(.shapeMismatch, "[\(op)] \(what) has shape \(t.shape), expected [\(count)]")
        }
        return t.doubles()
    }

    /// A parameter applied over the normalized dims `shape` (layer and RMS norm): one that
    /// broadcasts to `shape`, or one with exactly as many elements, taken in row-major order.
    static func overDims(_ t: Tensor, shape: [Int], _ op: String, _ what: String) throws -> [Double] {
        try t.expectDType(DType.floatingPoint, op, input: what)
        let values = t.doubles()
        let count = shape.product
        if t.count == count { return values }
        guard t.rank <= shape.count, (try? Broadcast.shape(t.shape, shape, op: op)) == shape else {
            throw EmberError(
                .shapeMismatch, "[\(op)] \(what) has shape \(t.shape), expected one that broadcasts to \(shape)")
        }
        return Broadcast.indices(from: t.shape, to: shape).map { values[$0] }
    }

    /// Throws unless a per-channel parameter's type fits `channels` (when known).
    static func checkPerChannel(_ t: TensorType?, channels: Dim?, _ op: String, _ what: String) throws {
        guard let t else { return }
        try t.expectDType(DType.floatingPoint, op, input: what)
        try t.expectRank(1, op, input: what)
        if let c = channels?.value, let d = t.shape?.first?.value, c != d {
            throw EmberError(.shapeMismatch, "[\(op)] \(what) has \(d) elements, expected \(c) (the channels)")
        }
    }
}

extension Tensor {
    /// Throws unless the rank is at least `rank`.
    func expectRank(atLeast rank: Int, _ op: String) throws {
        guard self.rank >= rank else {
            throw EmberError(.shapeMismatch, "[\(op)] input has rank \(self.rank), expected \(rank) or more")
        }
    }
}

extension TensorType {
    /// Throws unless the rank, when known, is at least `rank`.
    func expectRank(atLeast rank: Int, _ op: String) throws {
        if let r = self.rank, r < rank {
            throw EmberError(.shapeMismatch, "[\(op)] input has rank \(r), expected \(rank) or more")
        }
    }
}
