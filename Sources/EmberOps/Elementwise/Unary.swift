import EmberIR
import Foundation

/// `-x`.
public struct Neg: UnaryElementwise, AttributeFree {
    public static let name = "neg"
    public static var dtypes: Set<DType> { DType.floatingPoint.union([.i64, .i32, .i16, .i8]) }
    public init() {}
    public func apply(_ x: Double) -> Double { -x }
    public func apply(_ x: Int64) -> Int64 { 0 &- x }
}

/// `e^x`.
public struct Exp: UnaryElementwise, AttributeFree {
    public static let name = "exp"
    public init() {}
    public func apply(_ x: Double) -> Double { Foundation.exp(x) }
}
