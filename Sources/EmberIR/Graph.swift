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

    public init(name: String = "main") { self.name = name }

    /// Adds a value and returns its id. Names must be unique; the verifier checks it.
    public mutating func addValue(_ name: String, _ type: TensorType) -> ValueID {
        values.append(Value(name: name, type: type))
        return ValueID(values.count - 1)
    }

    public subscript(_ id: ValueID) -> Value {
        get { values[id.index] }
        set { values[id.index] = newValue }
    }

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
