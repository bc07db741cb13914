/// A node attribute value, as stored in the graph and printed in the text IR.
///
/// Ops read these into typed fields in their `init(attributes:)`, and passes and backends
/// should read those fields; some still look attributes up by name (`attributes.ints("pads")`),
/// which repeats the op's parsing and its defaults.
public enum Attribute: Equatable, Sendable, CustomStringConvertible {
    case int(Int)
    case float(Double)
    case string(String)
    case ints([Int])
    case floats([Double])
    case strings([String])
    case dtype(DType)
    case tensor(Tensor)

    public var description: String {
        switch self {
        case .int(let v): "\(v)"
        case .float(let v): TextFloat.format(v)
        case .string(let v): TextString.quote(v)
        case .ints(let v): "[\(v.map(String.init).joined(separator: ", "))]"
        case .floats(let v): "[\(v.map(TextFloat.format).joined(separator: ", "))]"
        case .strings(let v): "[\(v.map(TextString.quote).joined(separator: ", "))]"
        case .dtype(let v): v.rawValue
        case .tensor(let t): TensorLiteral.format(t)
        }
    }
}

/// An op's attributes: named values kept sorted by name, so printing is deterministic.
public struct Attributes: Equatable, Sendable {
    public private(set) var entries: [(name: String, value: Attribute)] = []
    /// The op these attributes belong to, for error messages.
    public var opName: String

    public init(op opName: String, _ entries: [(String, Attribute)] = []) {
        self.opName = opName
        for (name, value) in entries { self[name] = value }
    }

    public static func == (a: Attributes, b: Attributes) -> Bool {
        a.entries.elementsEqual(b.entries) { $0.name == $1.name && $0.value == $1.value }
    }

    public subscript(name: String) -> Attribute? {
        get { entries.first { $0.name == name }?.value }
        set {
            let index = entries.firstIndex { $0.name >= name } ?? entries.endIndex
            let exists = index < entries.endIndex && entries[index].name == name
            switch (newValue, exists) {
            case (let v?, true): entries[index].value = v
            case (let v?, false): entries.insert((name, v), at: index)
            case (nil, true): entries.remove(at: index)
            case (nil, false): break
            }
        }
    }

    public var names: [String] { entries.map(\.name) }

    /// Throws if any attribute is not in `known`: an attribute Ember does not understand
    /// could change the op's meaning, so it is never ignored silently.
    public func expectOnly(_ known: Set<String>) throws {
        for name in names where !known.contains(name) {
            throw EmberError(.unsupported, "[\(opName)] attribute '\(name)' is not supported")
        }
    }

    private func mismatch(_ name: String, _ expected: String) -> EmberError {
        EmberError(.invalidArgument, "[\(opName)] attribute '\(name)' expected \(expected), received \(self[name]!)")
    }

    public func int(_ name: String) throws -> Int? {
        switch self[name] {
        case nil: return nil
        case .int(let v): return v
        default: throw mismatch(name, "an integer")
        }
    }
    public func int(_ name: String, default value: Int) throws -> Int { try int(name) ?? value }

    public func bool(_ name: String, default value: Bool) throws -> Bool {
        try int(name).map { $0 != 0 } ?? value
    }

    public func float(_ name: String) throws -> Double? {
        switch self[name] {
        case nil: return nil
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: throw mismatch(name, "a float")
        }
    }
    public func float(_ name: String, default value: Double) throws -> Double { try float(name) ?? value }

    public func string(_ name: String) throws -> String? {
        switch self[name] {
        case nil: return nil
        case .string(let v): return v
        default: throw mismatch(name, "a string")
        }
    }
    public func string(_ name: String, default value: String) throws -> String { try string(name) ?? value }

    public func ints(_ name: String) throws -> [Int]? {
        switch self[name] {
        case nil: return nil
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw mismatch(name, "a list of integers")
        }
    }

    public func floats(_ name: String) throws -> [Double]? {
        switch self[name] {
        case nil: return nil
        case .floats(let v): return v
        case .ints(let v): return v.map(Double.init)
        case .float(let v): return [v]
        default: throw mismatch(name, "a list of floats")
        }
    }

    public func strings(_ name: String) throws -> [String]? {
        switch self[name] {
        case nil: return nil
        case .strings(let v): return v
        default: throw mismatch(name, "a list of strings")
        }
    }

    /// A dtype attribute, given either as a dtype or as an ONNX type code.
    public func dtype(_ name: String) throws -> DType? {
        switch self[name] {
        case nil: return nil
        case .dtype(let v): return v
        case .int(let code):
            guard let t = DType(onnxCode: code) else {
                throw EmberError(.unsupported, "[\(opName)] attribute '\(name)': data type \(code) is not supported")
            }
            return t
        default: throw mismatch(name, "a dtype")
        }
    }

    public func tensor(_ name: String) throws -> Tensor? {
        switch self[name] {
        case nil: return nil
        case .tensor(let v): return v
        default: throw mismatch(name, "a tensor")
        }
    }
}
