import EmberIR

/// An elementwise op of one or more inputs of one dtype, all broadcast together.
public protocol VariadicElementwise: AttributeFree {
    static var dtypes: Set<DType> { get }
}

extension VariadicElementwise {
    public static var inputArity: ClosedRange<Int> { 1...Int(Int32.max) }
    public static var traits: OpTraits { [.elementwise, .commutative] }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let types = try (0..<inputs.count).map { try inputs.type($0) }
        guard let first = types.first else { throw EmberError.op(Self.name, "expected at least one input") }
        for t in types {
            try Elementwise.expectSameDType(first.dtype, t.dtype, Self.name)
        }
        try first.expectDType(Self.dtypes, Self.name)
        return [TensorType(first.dtype, try Broadcast.dims(types.map(\.shape), op: Self.name))]
    }

    /// The inputs, checked: at least one, all present, one accepted dtype.
    func checkedInputs(_ inputs: [Tensor?]) throws -> [Tensor] {
        let tensors = try inputs.indices.map { try inputs.required($0, Self.name) }
        guard let first = tensors.first else { throw EmberError.op(Self.name, "expected at least one input") }
        for t in tensors { try Elementwise.expectSameDType(first.dtype, t.dtype, Self.name) }
        try first.expectDType(Self.dtypes, Self.name)
        return tensors
    }
}

extension BinaryFunction {
    /// The inputs folded left to right with broadcasting; a single input is broadcast to the output shape.
    func fold(_ tensors: [Tensor], op: String) throws -> Tensor {
        guard var result = tensors.first else { throw EmberError.op(op, "expected at least one input") }
        for t in tensors.dropFirst() { result = try broadcast(result, t, op: op) }
        return result
    }
}

/// The elementwise maximum of the inputs; NaN wins.
public struct Max: ScalarElementwise, VariadicElementwise, BinaryFunction {
    public static let name = "max"
    public static var dtypes: Set<DType> { DType.numeric }
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { Self.max(a, b) }
    public func apply(_ a: Float, _ b: Float) -> Float { Self.max(a, b) }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { Swift.max(a, b) }
    public func apply(_ a: UInt64, _ b: UInt64) -> UInt64 { Swift.max(a, b) }

    @inline(__always) static func max<T: FloatingPoint>(_ a: T, _ b: T) -> T { a < b || b.isNaN ? b : a }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        [try fold(try checkedInputs(inputs), op: Self.name)]
    }

    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula { try fold(operands, .max) }
}

/// The elementwise minimum of the inputs; NaN wins.
public struct Min: ScalarElementwise, VariadicElementwise, BinaryFunction {
    public static let name = "min"
    public static var dtypes: Set<DType> { DType.numeric }
    public init() {}
    public func apply(_ a: Double, _ b: Double) -> Double { Self.min(a, b) }
    public func apply(_ a: Float, _ b: Float) -> Float { Self.min(a, b) }
    public func apply(_ a: Int64, _ b: Int64) -> Int64 { Swift.min(a, b) }
    public func apply(_ a: UInt64, _ b: UInt64) -> UInt64 { Swift.min(a, b) }

    @inline(__always) static func min<T: FloatingPoint>(_ a: T, _ b: T) -> T { b < a || b.isNaN ? b : a }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        [try fold(try checkedInputs(inputs), op: Self.name)]
    }

    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula { try fold(operands, .min) }
}

/// The elementwise sum of the inputs, computed in `Double` and rounded once.
public struct Sum: ScalarElementwise, VariadicElementwise {
    public static let name = "sum"
    public static var dtypes: Set<DType> { DType.floatingPoint }
    public init() {}

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let tensors = try checkedInputs(inputs)
        // Two inputs add exactly in their own type; more go through f64 so they round once.
        if tensors.count <= 2 { return [try Add().fold(tensors, op: Self.name)] }
        let dtype = tensors[0].dtype
        return [try Add().fold(tensors.map { $0.cast(to: .f64) }, op: Self.name).cast(to: dtype)]
    }

    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula { try fold(operands, .add) }
}

/// The elementwise mean of the inputs, computed in `Double` and rounded once.
public struct Mean: ScalarElementwise, VariadicElementwise {
    public static let name = "mean"
    public static var dtypes: Set<DType> { DType.floatingPoint }
    public init() {}

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let tensors = try checkedInputs(inputs)
        let dtype = tensors[0].dtype
        let sum = try Add().fold(tensors.map { $0.cast(to: .f64) }, op: Self.name)
        let n = Tensor(scalar: Double(tensors.count), .f64)
        return [try Div().broadcast(sum, n, op: Self.name).cast(to: dtype)]
    }

    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula { try fold(operands, .add) / .constant(Double(operands.count)) }
}
