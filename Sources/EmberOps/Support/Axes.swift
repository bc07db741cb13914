import EmberIR

/// Axis arguments: negative axes count from the end.
public enum Axes {
    /// `axis` in `0..<rank`, from an axis that may be negative.
    public static func normalize(_ axis: Int, rank: Int, op: String) throws -> Int {
        guard let a = normalized(axis, rank: rank) else {
            throw EmberError(.invalidArgument, "[\(op)] axis \(axis) is out of range for rank \(rank)")
        }
        return a
    }

    /// `axis` in `0..<rank` (0 for a scalar), or nil when it is out of range.
    public static func normalized(_ axis: Int, rank: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return a >= 0 && a < max(rank, 1) ? a : nil
    }

    /// A start or end of a range over `count` items, counted from the end when negative and
    /// clamped to `0...count`: the rule for the bounds of `shape` and `slice`.
    public static func clamp(_ index: Int, count: Int) -> Int { min(max(index < 0 ? index + count : index, 0), count) }

    /// Normalized, sorted, distinct axes.
    public static func normalize(_ axes: [Int], rank: Int, op: String) throws -> [Int] {
        let normalized = try axes.map { try normalize($0, rank: rank, op: op) }
        guard Set(normalized).count == normalized.count else {
            throw EmberError(.invalidArgument, "[\(op)] axes \(axes) repeat an axis")
        }
        return normalized.sorted()
    }
}

extension Dim {
    /// The product of dims, known only when all are known.
    public static func product(_ dims: some Sequence<Dim>) -> Dim {
        var n = 1
        for d in dims {
            guard let v = d.value else { return .unknown }
            n *= v
        }
        return .known(n)
    }
}

extension TensorType {
    /// Throws unless the rank is known to be `rank` (an unknown rank passes).
    public func expectRank(_ rank: Int, _ op: String, input: String = "input") throws {
        if let r = self.rank, r != rank {
            throw EmberError(.shapeMismatch, "[\(op)] \(input) has rank \(r), expected \(rank)")
        }
    }

    /// Throws unless the dtype is one of `allowed`.
    public func expectDType(_ allowed: Set<DType>, _ op: String, input: String = "input") throws {
        guard allowed.contains(dtype) else {
            throw EmberError(.typeMismatch, "[\(op)] \(input) has dtype \(dtype), which is not supported")
        }
    }
}

extension Tensor {
    /// Throws unless the dtype is one of `allowed`.
    public func expectDType(_ allowed: Set<DType>, _ op: String, input: String = "input") throws {
        guard allowed.contains(dtype) else {
            throw EmberError(.typeMismatch, "[\(op)] \(input) has dtype \(dtype), which is not supported")
        }
    }
}
