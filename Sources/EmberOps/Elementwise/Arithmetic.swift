import EmberIR

/// `a + b` with broadcasting.
public struct Add: BinaryElementwise, AttributeFree {
    public static let name = "add"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a + b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }
}

/// `a - b` with broadcasting.
public struct Sub: BinaryElementwise, AttributeFree {
    public static let name = "sub"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a - b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a &- b }
}

/// `a * b` with broadcasting.
public struct Mul: BinaryElementwise, AttributeFree {
    public static let name = "mul"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a * b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a &* b }
}

/// `a / b` with broadcasting; integers truncate toward zero, and division by zero gives 0
/// (undefined in ONNX; Ember never traps on it).
public struct Div: BinaryElementwise, AttributeFree {
    public static let name = "div"
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { a / b }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? 0 : a.dividedReportingOverflow(by: b).partialValue }
}
