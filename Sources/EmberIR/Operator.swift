/// Properties of an op that passes and backends ask about, instead of keeping lists of op names.
public struct OpTraits: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Output element i depends only on input elements i (after broadcasting).
    public static let elementwise = OpTraits(rawValue: 1 << 0)
    /// `f(a, b) == f(b, a)`.
    public static let commutative = OpTraits(rawValue: 1 << 1)
    /// Only rearranges, selects or copies elements; never computes new values.
    public static let dataMovement = OpTraits(rawValue: 1 << 2)
    /// A reduction over some axes.
    public static let reduction = OpTraits(rawValue: 1 << 3)
    /// Output shape depends on input values, not only on input shapes.
    public static let dataDependentShape = OpTraits(rawValue: 1 << 4)
    /// The output holds the input's elements in the same row-major order; only the shape differs
    /// (`reshape`, `squeeze`). A backend may alias the input's buffer or copy its bytes as they
    /// are; a pass may merge a chain of such ops.
    public static let view = OpTraits(rawValue: 1 << 5)
}

/// What type inference knows about an op's inputs: their types, and their values where they are constants.
public struct OpInputs: Sendable {
    /// One entry per input slot; nil where an optional input is absent.
    public var types: [TensorType?]
    /// The value of each input that is a known constant.
    public var constants: [Tensor?]
    /// The op, for error messages.
    public var opName: String

    public init(_ opName: String, types: [TensorType?], constants: [Tensor?]? = nil) {
        self.opName = opName
        self.types = types
        self.constants = constants ?? Array(repeating: nil, count: types.count)
    }

    public var count: Int { types.count }

    /// Whether input `i` is present.
    public func has(_ i: Int) -> Bool { i < types.count && types[i] != nil }

    /// The type of input `i`, which must be present.
    public func type(_ i: Int) throws -> TensorType {
        guard i < types.count, let t = types[i] else {
            throw EmberError(.invalidIR, "[\(opName)] input \(i) is required")
        }
        return t
    }

    /// The constant value of input `i`, if it is present and known.
    public func constant(_ i: Int) -> Tensor? { i < constants.count ? constants[i] : nil }
}

/// An operator: attributes, shape and dtype inference and reference evaluation, in one place.
///
/// Each op is a struct whose stored properties are its typed attributes:
///
///     struct Relu: Operator {
///         static let name = "relu"
///         init(attributes: Attributes) throws { try attributes.expectOnly([]) }
///         ...
///     }
public protocol Operator: Sendable {
    /// The op's name in the text IR (`conv`, `layer_norm`).
    static var name: String { get }
    /// How many inputs the op takes, optional ones included.
    static var inputArity: ClosedRange<Int> { get }
    /// How many outputs the op can produce.
    static var outputArity: ClosedRange<Int> { get }
    static var traits: OpTraits { get }

    /// Reads and validates typed attributes.
    init(attributes: Attributes) throws
    /// The attributes again, for printing; `init(attributes: op.attributes)` gives back the same op.
    var attributes: Attributes { get }

    /// Output types from input types, keeping symbolic dims symbolic.
    func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType]
    /// The reference evaluation: plain loops, the executable definition of the op.
    func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor]
}

extension Operator {
    public static var outputArity: ClosedRange<Int> { 1...1 }
    public static var traits: OpTraits { [] }
    public var name: String { Self.name }
    public var traits: OpTraits { Self.traits }

    /// Same op kind with the same attributes.
    public func isEquivalent(to other: any Operator) -> Bool {
        type(of: other).name == Self.name && other.attributes == attributes
    }
}

extension Array where Element == Tensor? {
    /// Input `i` of an op's evaluation, which must be present.
    public func required(_ i: Int, _ op: String) throws -> Tensor {
        guard i < count, let t = self[i] else {
            throw EmberError(.invalidArgument, "[\(op)] input \(i) is required")
        }
        return t
    }

    /// Input `i`, or nil when it is absent.
    public func optional(_ i: Int) -> Tensor? { i < count ? self[i] : nil }
}

/// The ops a graph may contain, looked up by name when text IR is parsed.
public struct OperatorRegistry: Sendable {
    private var byName: [String: any Operator.Type] = [:]
    /// Names in registration order, for listings.
    public private(set) var names: [String] = []

    public init(_ ops: [any Operator.Type]) {
        for op in ops where byName[op.name] == nil {
            byName[op.name] = op
            names.append(op.name)
        }
    }

    public func lookup(_ name: String) -> (any Operator.Type)? { byName[name] }

    /// An op of kind `name` built from `attributes`.
    public func make(_ name: String, _ attributes: Attributes) throws -> any Operator {
        guard let op = byName[name] else {
            throw EmberError(.unsupported, "unknown op '\(name)'")
        }
        var attrs = attributes
        attrs.opName = name
        return try op.init(attributes: attrs)
    }
}
