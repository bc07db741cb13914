import EmberIR

/// A function of two broadcast bool inputs, giving bools.
public protocol BinaryLogical: AttributeFree {
    func apply(_ a: Bool, _ b: Bool) -> Bool
}

extension BinaryLogical {
    public static var inputArity: ClosedRange<Int> { 2...2 }
    public static var traits: OpTraits { [.elementwise, .commutative] }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (a, b) = (try inputs.type(0), try inputs.type(1))
        try a.expectDType([.bool], Self.name, input: "input 0")
        try b.expectDType([.bool], Self.name, input: "input 1")
        return [TensorType(.bool, try Broadcast.dims(a.shape, b.shape, op: Self.name))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (a, b) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try a.expectDType([.bool], Self.name, input: "input 0")
        try b.expectDType([.bool], Self.name, input: "input 1")
        let plan = try BroadcastPlan([a, b], op: Self.name)
        return [Tensor(shape: plan.shape, bools: Loops.map(a.bools(), b.bools(), plan) { apply($0, $1) })]
    }
}

/// Logical `a and b` with broadcasting.
public struct And: BinaryLogical {
    public static let name = "and"
    public init() {}
    public func apply(_ a: Bool, _ b: Bool) -> Bool { a && b }
}

/// Logical `a or b` with broadcasting.
public struct Or: BinaryLogical {
    public static let name = "or"
    public init() {}
    public func apply(_ a: Bool, _ b: Bool) -> Bool { a || b }
}

/// Logical `a xor b` with broadcasting.
public struct Xor: BinaryLogical {
    public static let name = "xor"
    public init() {}
    public func apply(_ a: Bool, _ b: Bool) -> Bool { a != b }
}

/// Logical `not x`.
public struct Not: AttributeFree {
    public static let name = "not"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .elementwise }
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType([.bool], Self.name)
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType([.bool], Self.name)
        return [Tensor(shape: x.shape, bools: Loops.map(x.bools()) { !$0 })]
    }
}

/// An integer-only binary op; the `Double` entry point is never called.
public protocol BinaryBitwise: BinaryArithmetic {}

extension BinaryBitwise {
    public static var dtypes: Set<DType> { DType.integers }
    public func apply(_ a: Double, _ b: Double) -> Double { .nan }
}

/// Bitwise `a & b` with broadcasting.
public struct BitwiseAnd: BinaryBitwise, AttributeFree {
    public static let name = "bitwise_and"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a & b }
}

/// Bitwise `a | b` with broadcasting.
public struct BitwiseOr: BinaryBitwise, AttributeFree {
    public static let name = "bitwise_or"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a | b }
}

/// Bitwise `a ^ b` with broadcasting.
public struct BitwiseXor: BinaryBitwise, AttributeFree {
    public static let name = "bitwise_xor"
    public static var traits: OpTraits { [.elementwise, .commutative] }
    public init() {}
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { a ^ b }
}

/// Bitwise `~x`.
public struct BitwiseNot: UnaryMath, AttributeFree {
    public static let name = "bitwise_not"
    public static var dtypes: Set<DType> { DType.integers }
    public init() {}
    public func apply(_ x: Double) -> Double { .nan }
    public func apply(_ x: Int64) -> Int64 { ~x }
}

/// `x << y` or `x >> y` with broadcasting; right shifts of signed types are arithmetic.
///
/// A shift by a negative amount or by the type's width or more leaves only the sign fill:
/// -1 for a right shift of a negative value, else 0. Shifting in `Int64` and wrapping to the
/// type's width gives exactly that for every narrower type.
public struct BitShift: BinaryBitwise {
    public static let name = "bit_shift"
    public enum Direction: String, Sendable { case left = "LEFT", right = "RIGHT" }
    public var direction: Direction

    public init(direction: Direction) { self.direction = direction }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["direction"])
        guard let text = try attributes.string("direction") else {
            throw EmberError.op(Self.name, "attribute 'direction' is required")
        }
        guard let direction = Direction(rawValue: text) else {
            throw EmberError.op(Self.name, "expected direction LEFT or RIGHT, received '\(text)'")
        }
        self.direction = direction
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("direction", .string(direction.rawValue))]) }

    public func apply(_ a: Int64, _ b: Int64) -> Int64 {
        guard b >= 0, b < 64 else { return direction == .right && a < 0 ? -1 : 0 }
        return direction == .left ? a << b : a >> b
    }

    public func apply(_ a: UInt64, _ b: UInt64) -> UInt64 {
        guard b < 64 else { return 0 }
        return direction == .left ? a << b : a >> b
    }
}
