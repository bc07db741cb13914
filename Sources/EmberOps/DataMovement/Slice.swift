import EmberIR

/// Takes `start, start + step, ...` up to (not including) `end` along each axis in `axes`.
/// Negative starts and ends count from the end of the dim; both are clamped to the dim, so
/// `INT64_MAX` means "to the end" and `INT64_MIN` with a negative step "to the beginning".
///
///     slice(f32[batch,10], starts: [1], ends: [INT64_MAX], axes: [1]) -> f32[batch,9]
public struct SliceOp: Operator, AttributeFree {
    public static let name = "slice"
    public static let inputArity: ClosedRange<Int> = 3...5
    public static var traits: OpTraits { .dataMovement }

    public init() {}

    /// One axis's selection after normalization: the first index, the step and how many.
    struct Range1D: Equatable {
        var start: Int
        var step: Int
        var count: Int
    }

    /// The ONNX slicing rule for one axis of size `dim`.
    static func resolve(start: Int, end: Int, step: Int, dim: Int) throws -> Range1D {
        guard step != 0 else { throw EmberError(.invalidArgument, "[\(name)] step is 0, expected nonzero") }
        var s = start < 0 ? start + dim : start
        var e = end < 0 ? end + dim : end
        if step > 0 {
            s = min(max(s, 0), dim)
            e = min(max(e, 0), dim)
            return Range1D(start: s, step: step, count: e > s ? (e - s - 1) / step + 1 : 0)
        }
        s = min(max(s, 0), dim - 1)
        e = min(max(e, -1), dim - 1)
        return Range1D(start: s, step: step, count: s > e ? 1 - (s - e - 1) / step : 0)
    }

    /// Per-axis (start, end, step) for a tensor of `rank`, from the inputs' values.
    static func selections(rank: Int, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws
        -> [(axis: Int, start: Int, end: Int, step: Int)]
    {
        let axes = axes ?? Array(0..<starts.count)
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw EmberError(
                .invalidArgument,
                "[\(name)] starts, ends, axes and steps have \(starts.count), \(ends.count), \(axes.count) and \(steps.count) values, expected equal counts"
            )
        }
        var seen = Set<Int>()
        var result: [(axis: Int, start: Int, end: Int, step: Int)] = []
        for i in 0..<starts.count {
            let a = try Axes.normalize(axes[i], rank: rank, op: name)
            guard a < rank, seen.insert(a).inserted else {
                throw EmberError(.invalidArgument, "[\(name)] axes \(axes) are out of range or repeat for rank \(rank)")
            }
            result.append((a, starts[i], ends[i], steps[i]))
        }
        return result
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        for (i, what) in [(1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")] where inputs.has(i) {
            try DataMovementChecks.expectIntegerVector(try inputs.type(i), Self.name, input: what)
        }
        guard var dims = x.shape else { return [TensorType(x.dtype, nil)] }
        let axes: [Int]?
        if inputs.has(3) {
            guard let a = inputs.constantInts(3) else { return [TensorType(x.dtype, dims.map { _ in .unknown })] }
            axes = a
        } else {
            axes = nil
        }
        guard let starts = inputs.constantInts(1), let ends = inputs.constantInts(2) else {
            // The sliced axes are known, their sizes are not.
            let touched = axes ?? inputs.vectorLength(1).map { Array(0..<$0) }
            guard let touched else { return [TensorType(x.dtype, dims.map { _ in .unknown })] }
            for a in touched {
                let k = try Axes.normalize(a, rank: dims.count, op: Self.name)
                if k < dims.count { dims[k] = .unknown }
            }
            return [TensorType(x.dtype, dims)]
        }
        let steps: [Int]?
        if inputs.has(4) {
            guard let s = inputs.constantInts(4) else {
                for a in axes ?? Array(0..<starts.count) {
                    let k = try Axes.normalize(a, rank: dims.count, op: Self.name)
                    if k < dims.count { dims[k] = .unknown }
                }
                return [TensorType(x.dtype, dims)]
            }
            steps = s
        } else {
            steps = nil
        }
        for sel in try Self.selections(rank: dims.count, starts: starts, ends: ends, axes: axes, steps: steps) {
            if let d = dims[sel.axis].value {
                dims[sel.axis] = .known(try Self.resolve(start: sel.start, end: sel.end, step: sel.step, dim: d).count)
            } else if sel.step == 0 {
                throw EmberError(.invalidArgument, "[\(Self.name)] step is 0, expected nonzero")
            } else if !Self.takesAll(sel.start, sel.end, sel.step) {
                dims[sel.axis] = .unknown
            }
        }
        return [TensorType(x.dtype, dims)]
    }

    /// Whether a selection keeps a dim of any size whole, so a symbolic dim stays the same symbol.
    static func takesAll(_ start: Int, _ end: Int, _ step: Int) -> Bool {
        let big = Int(Int32.max)
        if step == 1 { return start == 0 && end >= big }
        if step == -1 { return (start == -1 || start >= big) && end <= -big }
        return false
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let starts = try inputs.required(1, Self.name).indexValues(Self.name, input: "starts")
        let ends = try inputs.required(2, Self.name).indexValues(Self.name, input: "ends")
        let axes = try inputs.optional(3).map { try $0.indexValues(Self.name, input: "axes") }
        let steps = try inputs.optional(4).map { try $0.indexValues(Self.name, input: "steps") }
        let strides = Tensor.strides(of: x.shape)
        var ranges = x.shape.map { Range1D(start: 0, step: 1, count: $0) }
        for sel in try Self.selections(rank: x.rank, starts: starts, ends: ends, axes: axes, steps: steps) {
            ranges[sel.axis] = try Self.resolve(start: sel.start, end: sel.end, step: sel.step, dim: x.shape[sel.axis])
        }
        let shape = ranges.map(\.count)
        if shape == x.shape, ranges.allSatisfy({ $0.start == 0 && $0.step == 1 }) { return [x] }
        let tables = ranges.enumerated().map { k, r in
            IndexMaps.strided(start: r.start, step: r.step, count: r.count, stride: strides[k])
        }
        return [x.gathering(IndexMaps.sums(tables), shape: shape)]
    }
}
