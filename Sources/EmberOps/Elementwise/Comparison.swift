import EmberIR

/// A predicate of two broadcast inputs of one dtype, giving a bool tensor.
///
/// `test` is generic, so every dtype compares in its own type: NaN compares as IEEE says and
/// unsigned 64-bit values compare as unsigned.
public protocol BinaryPredicate: Operator {
    static var dtypes: Set<DType> { get }
    func test<T: Comparable>(_ a: T, _ b: T) -> Bool
}

extension BinaryPredicate {
    public static var inputArity: ClosedRange<Int> { 2...2 }
    public static var traits: OpTraits { .elementwise }
    public static var dtypes: Set<DType> { DType.numeric }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (a, b) = (try inputs.type(0), try inputs.type(1))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(Self.dtypes, Self.name)
        return [TensorType(.bool, try Broadcast.dims(a.shape, b.shape, op: Self.name))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (a, b) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(Self.dtypes, Self.name)
        let plan = try BroadcastPlan([a, b], op: Self.name)
        let out: [Bool]
        switch (a.storage, b.storage) {
        case (.f32(let x), .f32(let y)): out = Loops.map(x, y, plan) { test($0, $1) }
        case (.f64(let x), .f64(let y)): out = Loops.map(x, y, plan) { test($0, $1) }
        case (.u64(let x), .u64(let y)): out = Loops.map(x, y, plan) { test($0, $1) }
        default:
            if a.dtype.isFloatingPoint {
                out = Loops.map(a.doubles(), b.doubles(), plan) { test($0, $1) }
            } else {
                out = Loops.map(a.int64s(), b.int64s(), plan) { test($0, $1) }
            }
        }
        return [Tensor(shape: plan.shape, bools: out)]
    }
}

/// `a == b` with broadcasting, giving bools.
public struct Equal: BinaryPredicate, AttributeFree {
    public static let name = "equal"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public static var dtypes: Set<DType> { DType.all }
    public init() {}
    public func test<T: Comparable>(_ a: T, _ b: T) -> Bool { a == b }
}

/// `a < b` with broadcasting, giving bools.
public struct Less: BinaryPredicate, AttributeFree {
    public static let name = "less"
    public init() {}
    public func test<T: Comparable>(_ a: T, _ b: T) -> Bool { a < b }
}

/// `a <= b` with broadcasting, giving bools.
public struct LessOrEqual: BinaryPredicate, AttributeFree {
    public static let name = "less_or_equal"
    public init() {}
    public func test<T: Comparable>(_ a: T, _ b: T) -> Bool { a <= b }
}

/// `a > b` with broadcasting, giving bools.
public struct Greater: BinaryPredicate, AttributeFree {
    public static let name = "greater"
    public init() {}
    public func test<T: Comparable>(_ a: T, _ b: T) -> Bool { a > b }
}

/// `a >= b` with broadcasting, giving bools.
public struct GreaterOrEqual: BinaryPredicate, AttributeFree {
    public static let name = "greater_or_equal"
    public init() {}
    public func test<T: Comparable>(_ a: T, _ b: T) -> Bool { a >= b }
}
