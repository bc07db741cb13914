/// A value's position in its graph.
public struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let index: Int
    public init(_ index: Int) { self.index = index }
    public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
    public var description: String { "v\(index)" }
}

/// An SSA value: defined once, by a graph input, a constant or a node output.
public struct Value: Sendable {
    public var name: String
    public var type: TensorType
}

/// One operation in the graph.
public struct Node: Sendable {
    /// The node's name in the model it came from, for error messages; may be empty.
    public var name: String
    public var op: any Operator
    /// Operands; nil marks an absent optional input.
    public var inputs: [ValueID?]
    public var outputs: [ValueID]

    public init(name: String = "", op: any Operator, inputs: [ValueID?], outputs: [ValueID]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.outputs = outputs
    }

    /// `node 'Conv_3' (conv)`, for error locations.
    public var location: String { name.isEmpty ? "op \(op.name)" : "node '\(name)' (\(op.name))" }
}

/// A typed SSA graph: inputs, constants, nodes in topological order, and outputs.
///
/// Constants are stored once, in `constants`; every use refers to the value.
public struct Graph: Sendable {
    public var name: String
    public private(set) var values: [Value] = []
    public var nodes: [Node] = []
    public var inputs: [ValueID] = []
    public var outputs: [ValueID] = []
    public var constants: [ValueID: Tensor] = [:]
    /// Constants whose bytes a backend holds in a form of its own (weights packed for its kernels
    /// and stored so in an engine file): the graph knows their types, not their elements.
    public var heldConstants: Set<ValueID> = []
    /// Every value's name, for unique naming and lookup.
    private var valueNames: [String: ValueID] = [:]
    private var nameCounter = 0

    public init(name: String = "main") { self.name = name }

    /// Adds a value and returns its id. It gets `preferred` as its name when that is free,
    /// else `preferred` with a numeric suffix (or a plain number when `preferred` is nil or empty).
    public mutating func addValue(_ preferred: String?, _ type: TensorType) -> ValueID {
        let name = uniqueName(preferred)
        values.append(Value(name: name, type: type))
        let id = ValueID(values.count - 1)
        valueNames[name] = id
        return id
    }

    /// A name no value has yet.
    public mutating func uniqueName(_ preferred: String?) -> String {
        if let preferred, !preferred.isEmpty, valueNames[preferred] == nil { return preferred }
        let base = preferred.flatMap { $0.isEmpty ? nil : $0 }
        while true {
            let candidate = base.map { "\($0)_\(nameCounter)" } ?? "\(nameCounter)"
            nameCounter += 1
            if valueNames[candidate] == nil { return candidate }
        }
    }

    /// The value with this name, if any.
    public func value(named name: String) -> ValueID? { valueNames[name] }

    /// Gives a value another name; `name` must be free.
    public mutating func rename(_ id: ValueID, to name: String) {
        valueNames[values[id.index].name] = nil
        values[id.index].name = name
        valueNames[name] = id
    }

    /// Changes a value's type (passes refine types as they learn more).
    public mutating func setType(_ id: ValueID, _ type: TensorType) { values[id.index].type = type }

    public subscript(_ id: ValueID) -> Value { values[id.index] }

    public func type(of id: ValueID) -> TensorType { values[id.index].type }
    public func name(of id: ValueID) -> String { values[id.index].name }

    /// The ids of constants, in value order.
    public var constantIDs: [ValueID] { constants.keys.sorted() }

    /// Op name to node count, sorted by name.
    public var opHistogram: [(op: String, count: Int)] {
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.op.name, default: 0] += 1 }
        return counts.keys.sorted().map { ($0, counts[$0, default: 0]) }
    }
}
