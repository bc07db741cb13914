import EmberIR

/// The index (i64) of the largest or smallest element along `axis`: the first one on ties, or
/// the last with `select_last_index`. NaN counts as larger than every number.
public protocol ArgReduction: Operator {
    static var largest: Bool { get }
    var axis: Int { get }
    var keepdims: Bool { get }
    var selectLastIndex: Bool { get }
    init(axis: Int, keepdims: Bool, selectLastIndex: Bool)
}

extension ArgReduction {
    public static var inputArity: ClosedRange<Int> { 1...1 }
    public static var traits: OpTraits { .reduction }
    static var dtypes: Set<DType> { DType.numeric }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis", "keepdims", "select_last_index"])
        self.init(
            axis: try attributes.int("axis", default: 0), keepdims: try attributes.bool("keepdims", default: true),
            selectLastIndex: try attributes.bool("select_last_index", default: false))
    }

    public var attributes: Attributes {
        Attributes(
            op: Self.name,
            [
                ("axis", .int(axis)), ("keepdims", .int(keepdims ? 1 : 0)),
                ("select_last_index", .int(selectLastIndex ? 1 : 0)),
            ])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Self.dtypes, Self.name)
        guard var shape = x.shape else { return [TensorType(.i64, nil)] }
        let a = try Axes.normalize(axis, rank: shape.count, op: Self.name)
        if shape.isEmpty { return [TensorType(.i64, [])] }
        if keepdims { shape[a] = .known(1) } else { shape.remove(at: a) }
        return [TensorType(.i64, shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name)
        let a = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        let layout = AxisLayout(x.shape, axis: a)
        guard layout.size > 0 || layout.lines == 0 else {
            throw EmberError.op(Self.name, "expected a non-empty axis \(axis), received size 0")
        }
        var shape = x.shape
        if !shape.isEmpty {
            if keepdims { shape[a] = 1 } else { shape.remove(at: a) }
        }
        let indices: [Int64]
        if x.dtype.isFloatingPoint {
            // NaN sorts above every number, so it wins arg max and loses arg min.
            let less: (Double, Double) -> Bool = { a, b in a < b || (b.isNaN && !a.isNaN) }
            indices = pick(x.doubles(), layout, less)
        } else if x.dtype == .u64 {
            indices = pick(x.int64s(), layout) { UInt64(bitPattern: $0) < UInt64(bitPattern: $1) }
        } else {
            indices = pick(x.int64s(), layout, <)
        }
        return [Tensor(shape: shape, int64s: indices)]
    }

    private func pick<E>(_ values: [E], _ layout: AxisLayout, _ less: (E, E) -> Bool) -> [Int64] {
        values.withUnsafeBufferPointer { v in
            (0..<layout.lines).map { line in
                let base = layout.base(line)
                var best = 0
                for j in 1..<max(layout.size, 1) {
                    let (candidate, current) = (v[base + j * layout.inner], v[base + best * layout.inner])
                    let better = Self.largest ? less(current, candidate) : less(candidate, current)
                    let tie = !less(current, candidate) && !less(candidate, current)
                    if better || (selectLastIndex && tie) { best = j }
                }
                return Int64(best)
            }
        }
    }
}

/// ONNX `ArgMax`.
public struct ArgMax: ArgReduction {
    public static let name = "arg_max"
    public static let largest = true
    public var axis: Int
    public var keepdims: Bool
    public var selectLastIndex: Bool
    public init(axis: Int = 0, keepdims: Bool = true, selectLastIndex: Bool = false) {
        self.axis = axis
        self.keepdims = keepdims
        self.selectLastIndex = selectLastIndex
    }
}

/// ONNX `ArgMin`.
public struct ArgMin: ArgReduction {
    public static let name = "arg_min"
    public static let largest = false
    public var axis: Int
    public var keepdims: Bool
    public var selectLastIndex: Bool
    public init(axis: Int = 0, keepdims: Bool = true, selectLastIndex: Bool = false) {
        self.axis = axis
        self.keepdims = keepdims
        self.selectLastIndex = selectLastIndex
    }
}
