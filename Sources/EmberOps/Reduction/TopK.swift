import EmberIR

/// The `k` largest (or smallest) elements along `axis` and their i64 indices, ONNX `TopK`
/// (`k` is input 1, a one-element i64 tensor). Equal values keep index order: the lower index
/// comes first. NaN counts as larger than every number. With `sorted = 0` the order is left
/// open by ONNX; Ember returns the sorted order.
public struct TopK: Operator {
    public static let name = "top_k"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static let outputArity: ClosedRange<Int> = 1...2
    public var axis: Int
    public var largest: Bool
    public var sorted: Bool

    public init(axis: Int = -1, largest: Bool = true, sorted: Bool = true) {
        self.axis = axis
        self.largest = largest
        self.sorted = sorted
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis", "largest", "sorted"])
        axis = try attributes.int("axis", default: -1)
        largest = try attributes.bool("largest", default: true)
        sorted = try attributes.bool("sorted", default: true)
    }

    public var attributes: Attributes {
        Attributes(
            op: Self.name,
            [("axis", .int(axis)), ("largest", .int(largest ? 1 : 0)), ("sorted", .int(sorted ? 1 : 0))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.numeric, Self.name)
        let kType = try inputs.type(1)
        try kType.expectDType([.i64], Self.name, input: "k")
        var shape = x.shape
        if let rank = x.rank {
            let a = try Axes.normalize(axis, rank: rank, op: Self.name)
            guard rank > 0 else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] input is a scalar, expected rank 1 or more")
            }
            var kDim = Dim.unknown
            if let kTensor = inputs.constant(1) {
                let k = try kValue(kTensor)
                if let size = x.shape?[a].value, k > size {
                    throw EmberError.op(Self.name, "expected k <= \(size) (the size of axis \(axis)), received \(k)")
                }
                kDim = .known(k)
            }
            shape?[a] = kDim
        }
        return Array([TensorType(x.dtype, shape), TensorType(.i64, shape)].prefix(max(outputCount, 1)))
    }

    private func kValue(_ k: Tensor) throws -> Int {
        guard k.dtype == .i64, k.rank <= 1, let v = k.scalarInt else {
            throw EmberError.op(Self.name, "expected k to be a one-element i64 tensor, received \(k.type)")
        }
        guard v >= 0 else { throw EmberError.op(Self.name, "expected k >= 0, received \(v)") }
        return v
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.numeric, Self.name)
        guard x.rank > 0 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input is a scalar, expected rank 1 or more")
        }
        let a = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        let k = try kValue(try inputs.required(1, Self.name))
        guard k <= x.shape[a] else {
            throw EmberError.op(Self.name, "expected k <= \(x.shape[a]) (the size of axis \(axis)), received \(k)")
        }
        let layout = AxisLayout(x.shape, axis: a)
        let positions: [Int]
        if x.dtype.isFloatingPoint {
            positions = select(x.doubles(), layout, k) { a, b in a < b || (b.isNaN && !a.isNaN) }
        } else if x.dtype == .u64 {
            positions = select(x.int64s(), layout, k) { UInt64(bitPattern: $0) < UInt64(bitPattern: $1) }
        } else {
            positions = select(x.int64s(), layout, k, <)
        }
        var shape = x.shape
        shape[a] = k
        // positions holds, for each output element, the index along the axis it came from.
        var flat = [Int](repeating: 0, count: positions.count)
        for o in 0..<layout.outer {
            for j in 0..<k {
                for i in 0..<layout.inner {
                    let out = (o * k + j) * layout.inner + i
                    flat[out] = (o * layout.size + positions[out]) * layout.inner + i
                }
            }
        }
        let values = x.gathering(flat, shape: shape)
        let indices = Tensor(shape: shape, int64s: positions.map(Int64.init))
        return Array([values, indices].prefix(max(outputCount, 1)))
    }

    /// For each output element (output layout), the index along the axis of the element chosen.
    private func select<E>(_ values: [E], _ layout: AxisLayout, _ k: Int, _ less: (E, E) -> Bool) -> [Int] {
        var out = [Int](repeating: 0, count: layout.outer * k * layout.inner)
        values.withUnsafeBufferPointer { v in
            var order = Array(0..<layout.size)
            for o in 0..<layout.outer {
                for i in 0..<layout.inner {
                    let base = o * layout.size * layout.inner + i
                    for j in 0..<layout.size { order[j] = j }
                    // A stable sort on a strict order keeps lower indices first among equals.
                    let before: (Int, Int) -> Bool =
                        largest
                        ? { less(v[base + $1 * layout.inner], v[base + $0 * layout.inner]) }
                        : { less(v[base + $0 * layout.inner], v[base + $1 * layout.inner]) }
                    let chosen = Self.stableSorted(order, by: before)
                    for j in 0..<k { out[(o * k + j) * layout.inner + i] = chosen[j] }
                }
            }
        }
        return out
    }

    /// `items` sorted by `before`, equal items keeping their order.
    private static func stableSorted(_ items: [Int], by before: (Int, Int) -> Bool) -> [Int] {
        // Ties broken by position make the order total, so any sort is stable here.
        items.sorted { a, b in before(a, b) || (!before(b, a) && a < b) }
    }
}
