import EmberIR

/// Running sums along the axis given by input 1 (a scalar i64 or i32), ONNX `CumSum`.
/// `exclusive` leaves the current element out; `reverse` sums from the end.
///
///     cum_sum([1, 2, 3], axis: 0) = [1, 3, 6];  {exclusive = 1, reverse = 1}: [5, 3, 0]
public struct CumSum: Operator {
    public static let name = "cum_sum"
    public static let inputArity: ClosedRange<Int> = 2...2
    static let dtypes: Set<DType> = DType.floatingPoint.union([.i64, .i32, .u64, .u32])
    public var exclusive: Bool
    public var reverse: Bool

    public init(exclusive: Bool = false, reverse: Bool = false) {
        self.exclusive = exclusive
        self.reverse = reverse
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["exclusive", "reverse"])
        exclusive = try attributes.bool("exclusive", default: false)
        reverse = try attributes.bool("reverse", default: false)
    }

    public var attributes: Attributes {
        Attributes(op: Self.name, [("exclusive", .int(exclusive ? 1 : 0)), ("reverse", .int(reverse ? 1 : 0))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Self.dtypes, Self.name)
        let axis = try inputs.type(1)
        try axis.expectDType([.i64, .i32], Self.name, input: "axis")
        if let rank = axis.rank, rank > 1 {
            throw EmberError(.shapeMismatch, "[\(Self.name)] axis has rank \(rank), expected a scalar")
        }
        if let a = inputs.constant(1), let rank = x.rank {
            _ = try Axes.normalize(try scalarInput(a, Self.name, "axis"), rank: rank, op: Self.name)
        }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name)
        let axisValue = try scalarInput(try inputs.required(1, Self.name), Self.name, "axis")
        guard x.rank > 0 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input is a scalar, expected rank 1 or more")
        }
        let layout = AxisLayout(x.shape, axis: try Axes.normalize(axisValue, rank: x.rank, op: Self.name))
        if x.dtype.isFloatingPoint {
            return [Tensor(x.dtype, shape: x.shape, doubles: scan(x.doubles(), layout, 0.0, +))]
        }
        return [Tensor(x.dtype, shape: x.shape, int64s: scan(x.int64s(), layout, Int64(0), &+))]
    }

    private func scan<E>(_ values: [E], _ layout: AxisLayout, _ zero: E, _ add: (E, E) -> E) -> [E] {
        var out = values
        values.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { y in
                for line in 0..<layout.lines {
                    let base = layout.base(line)
                    var sum = zero
                    for step in 0..<layout.size {
                        let j = base + (reverse ? layout.size - 1 - step : step) * layout.inner
                        if exclusive {
                            y[j] = sum
                            sum = add(sum, x[j])
                        } else {
                            sum = add(sum, x[j])
                            y[j] = sum
                        }
                    }
                }
            }
        }
        return out
    }
}
