import EmberIR

/// An op with no attributes.
public protocol AttributeFree: Operator {
    init()
}

extension AttributeFree {
    public init(attributes: Attributes) throws {
        try attributes.expectOnly([])
        self.init()
    }
    public var attributes: Attributes { Attributes(op: Self.name) }
}

/// An elementwise op of one input whose output has the input's type.
///
/// Floating point inputs compute in `Double` and round once to the dtype; integers in `Int64`.
public protocol UnaryElementwise: Operator {
    /// The dtypes the op accepts.
    static var dtypes: Set<DType> { get }
    func apply(_ x: Double) -> Double
    func apply(_ x: Int64) -> Int64
}

extension UnaryElementwise {
    public static var inputArity: ClosedRange<Int> { 1...1 }
    public static var traits: OpTraits { .elementwise }
    public static var dtypes: Set<DType> { DType.floatingPoint }

    public func apply(_ x: Int64) -> Int64 { Int64.saturating(apply(Double(x))) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Self.dtypes, Self.name)
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name)
        if x.dtype.isFloatingPoint {
            return [Tensor(x.dtype, shape: x.shape, doubles: x.doubles().map { apply($0) })]
        }
        return [Tensor(x.dtype, shape: x.shape, int64s: x.int64s().map { apply($0) })]
    }
}

/// An elementwise op of two broadcast inputs of one dtype, whose output has that dtype.
public protocol BinaryElementwise: Operator {
    static var dtypes: Set<DType> { get }
    func apply(_ a: Double, _ b: Double) -> Double
    func apply(_ a: Int64, _ b: Int64) -> Int64
}

extension BinaryElementwise {
    public static var inputArity: ClosedRange<Int> { 2...2 }
    public static var traits: OpTraits { .elementwise }
    public static var dtypes: Set<DType> { DType.numeric }

    public func apply(_ a: Int64, _ b: Int64) -> Int64 { Int64.saturating(apply(Double(a), Double(b))) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (a, b) = (try inputs.type(0), try inputs.type(1))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(Self.dtypes, Self.name)
        return [TensorType(a.dtype, try Broadcast.dims(a.shape, b.shape, op: Self.name))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (a, b) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(Self.dtypes, Self.name)
        return [try Elementwise.binary(a, b, Self.name, float: apply, int: apply)]
    }
}

/// Shared loops for the elementwise families.
public enum Elementwise {
    public static func expectSameDType(_ a: DType, _ b: DType, _ op: String) throws {
        guard a == b else {
            throw EmberError(.typeMismatch, "[\(op)] inputs have dtypes \(a) and \(b), expected one dtype")
        }
    }

    /// `a op b` with broadcasting, in `Double` for floats and `Int64` for integers.
    public static func binary(
        _ a: Tensor, _ b: Tensor, _ op: String, float: (Double, Double) -> Double, int: (Int64, Int64) -> Int64
    ) throws -> Tensor {
        let shape = try Broadcast.shape(a.shape, b.shape, op: op)
        let ia = Broadcast.indices(from: a.shape, to: shape)
        let ib = Broadcast.indices(from: b.shape, to: shape)
        if a.dtype.isFloatingPoint {
            let (x, y) = (a.doubles(), b.doubles())
            let out = x.withUnsafeBufferPointer { x in
                y.withUnsafeBufferPointer { y in
                    (0..<ia.count).map { float(x[ia[$0]], y[ib[$0]]) }
                }
            }
            return Tensor(a.dtype, shape: shape, doubles: out)
        }
        let (x, y) = (a.int64s(), b.int64s())
        let out = (0..<ia.count).map { int(x[ia[$0]], y[ib[$0]]) }
        return Tensor(a.dtype, shape: shape, int64s: out)
    }
}
