import EmberIR

/// `start, start + delta, ...` while below `limit` (above it for a negative `delta`): a vector of
/// `max(ceil((limit - start) / delta), 0)` elements, from three scalars of one dtype.
///
///     range(0, 10, 3) -> i64[4]: 0, 3, 6, 9
public struct RangeOp: Operator, AttributeFree {
    public static let name = "range"
    public static let inputArity: ClosedRange<Int> = 3...3

    static let dtypes: Set<DType> = DType.floatingPoint.union([.i64, .i32, .i16, .i8])

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let types = [try inputs.type(0), try inputs.type(1), try inputs.type(2)]
        for t in types {
            try Elementwise.expectSameDType(types[0].dtype, t.dtype, Self.name)
            if let r = t.rank, r > 1 || (r == 1 && t.shape?[0] != .known(1)) {
                throw EmberError(.shapeMismatch, "[\(Self.name)] inputs must be scalars, received \(t)")
            }
        }
        try types[0].expectDType(Self.dtypes, Self.name)
        if let s = inputs.constant(0), let l = inputs.constant(1), let d = inputs.constant(2) {
            return [TensorType(types[0].dtype, known: [try Self.count(s, l, d)])]
        }
        return [TensorType(types[0].dtype, [.unknown])]
    }

    /// The number of elements, from the three scalars.
    static func count(_ start: Tensor, _ limit: Tensor, _ delta: Tensor) throws -> Int {
        guard start.count == 1, limit.count == 1, delta.count == 1 else {
            throw EmberError(.shapeMismatch, "[\(name)] inputs must be scalars")
        }
        if start.dtype.isFloatingPoint {
            let (s, l, d) = (start.doubles()[0], limit.doubles()[0], delta.doubles()[0])
            // Like ONNX Runtime, the difference is taken in the input's precision.
            let span = start.dtype == .f64 ? l - s : Double(Float(l) - Float(s))
            guard d != 0 else { throw EmberError(.invalidArgument, "[\(name)] delta is 0, expected nonzero") }
            let n = (span / d).rounded(.up)
            guard !n.isNaN, n < 1e12 else {
                throw EmberError(.invalidArgument, "[\(name)] delta \(d) over a span of \(span) gives \(n) elements")
            }
            return n > 0 ? Int(n) : 0
        }
        let (s, l, d) = (start.int64s()[0], limit.int64s()[0], delta.int64s()[0])
        guard d != 0 else { throw EmberError(.invalidArgument, "[\(name)] delta is 0, expected nonzero") }
        let span = Double(l) - Double(s)
        let n = (span / Double(d)).rounded(.up)
        guard n < 1e12 else { throw EmberError(.invalidArgument, "[\(name)] \(n) elements is too many") }
        if n <= 0 { return 0 }
        // Exact integer ceiling division where the span fits.
        let (exactSpan, overflow) = l.subtractingReportingOverflow(s)
        if overflow { return Int(n) }
        let q = exactSpan / d
        return Int(q * d == exactSpan ? q : q + 1)
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (start, limit, delta) = (
            try inputs.required(0, Self.name), try inputs.required(1, Self.name), try inputs.required(2, Self.name)
        )
        try Elementwise.expectSameDType(start.dtype, limit.dtype, Self.name)
        try Elementwise.expectSameDType(start.dtype, delta.dtype, Self.name)
        try start.expectDType(Self.dtypes, Self.name)
        let n = try Self.count(start, limit, delta)
        if start.dtype.isFloatingPoint {
            let (s, d) = (start.doubles()[0], delta.doubles()[0])
            return [Tensor(start.dtype, shape: [n], doubles: (0..<n).map { s + Double($0) * d })]
        }
        let (s, d) = (start.int64s()[0], delta.int64s()[0])
        return [Tensor(start.dtype, shape: [n], int64s: (0..<n).map { s &+ Int64($0) &* d })]
    }
}
