import EmberIR

/// A tensor given as an attribute: `value` (a tensor), `value_float` / `value_int` (scalars, f32 and
/// i64) or `value_floats` / `value_ints` (vectors). Importers usually turn it into a graph constant.
public struct Constant: Operator {
    public static let name = "constant"
    public static let inputArity: ClosedRange<Int> = 0...0

    /// The attribute it was given as, kept so that printing gives it back.
    public var attribute: (name: String, value: Attribute)
    /// The tensor it produces.
    public var value: Tensor

    public init(_ value: Tensor) {
        self.value = value
        attribute = ("value", .tensor(value))
    }
    public init(attributes: Attributes) throws {
        let forms = ["value", "value_float", "value_floats", "value_int", "value_ints"]
        for name in ["sparse_value", "value_string", "value_strings"] where attributes[name] != nil {
            throw EmberError(.unsupported, "[\(Self.name)] attribute '\(name)' is not supported")
        }
        try attributes.expectOnly(Set(forms))
        guard attributes.names.count == 1, let name = attributes.names.first else {
            throw EmberError(
                .invalidArgument, "[\(Self.name)] expected exactly one of \(forms.joined(separator: ", ")), received \(attributes.names)")
        }
        switch name {
        case "value":
            guard let t = try attributes.tensor(name) else { throw EmberError(.internalError, "[\(Self.name)] missing value") }
            value = t
        case "value_float":
            value = Tensor(.f32, shape: [], doubles: [try attributes.float(name) ?? 0])
        case "value_floats":
            let v = try attributes.floats(name) ?? []
            value = Tensor(.f32, shape: [v.count], doubles: v)
        case "value_int":
            value = Tensor(shape: [], int64s: [Int64(try attributes.int(name) ?? 0)])
        default:
            let v = try attributes.ints(name) ?? []
            value = Tensor(shape: [v.count], int64s: v.map(Int64.init))
        }
        attribute = (name, attributes[name] ?? .tensor(value))
    }
    public var attributes: Attributes { Attributes(op: Self.name, [attribute]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] { [value.type] }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] { [value] }
}

/// A tensor of the shape given by input 0 (an i64 vector), every element `value` (a one-element
/// tensor attribute, default f32 0).
///
///     constant_of_shape([2, 3]) -> f32[2,3] of zeros
public struct ConstantOfShape: Operator {
    public static let name = "constant_of_shape"
    public static let inputArity: ClosedRange<Int> = 1...1

    public var value: Tensor

    public init(value: Tensor = Tensor(shape: [1], floats: [0])) { self.value = value }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["value"])
        value = try attributes.tensor("value") ?? Tensor(shape: [1], floats: [0])
        guard value.count == 1 else {
            throw EmberError(.invalidArgument, "[\(Self.name)] value has \(value.count) elements, expected 1")
        }
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("value", .tensor(value))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let s = try inputs.type(0)
        guard s.dtype == .i64 else {
            throw EmberError(.typeMismatch, "[\(Self.name)] shape has dtype \(s.dtype), expected i64")
        }
        try s.expectRank(1, Self.name, input: "shape")
        if let dims = inputs.constantInts(0) {
            guard dims.allSatisfy({ $0 >= 0 }) else {
                throw EmberError(.invalidArgument, "[\(Self.name)] shape \(dims) has a negative dim")
            }
            return [TensorType(value.dtype, known: dims)]
        }
        return [TensorType(value.dtype, inputs.vectorLength(0).map { [Dim](repeating: .unknown, count: $0) })]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let dims = try inputs.required(0, Self.name).indexValues(Self.name, input: "shape")
        guard dims.allSatisfy({ $0 >= 0 }), let n = Tensor.elementCount(dims) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] shape \(dims) is not a valid shape")
        }
        return [value.gathering([Int](repeating: 0, count: n), shape: dims)]
    }
}
