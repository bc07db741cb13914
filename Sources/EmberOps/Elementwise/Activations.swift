import EmberIR

/// `max(x, 0)`.
public struct Relu: UnaryElementwise, AttributeFree {
    public static let name = "relu"
    public static var dtypes: Set<DType> { DType.floatingPoint.union([.i64, .i32, .i16, .i8]) }
    public init() {}
    public func apply(_ x: Double) -> Double { x > 0 ? x : (x.isNaN ? x : 0) }
    public func apply(_ x: Int64) -> Int64 { max(x, 0) }
}

/// `x` where `x >= 0`, else `alpha * x`.
public struct LeakyRelu: UnaryElementwise {
    public static let name = "leaky_relu"
    public var alpha: Double

    public init(alpha: Double = 0.01) { self.alpha = alpha }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha"])
        alpha = try attributes.float("alpha", default: 0.01)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("alpha", .float(alpha))]) }

    public func apply(_ x: Double) -> Double { x >= 0 ? x : alpha * x }
}
