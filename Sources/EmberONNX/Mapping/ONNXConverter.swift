import EmberIR
import EmberOps

/// How one ONNX op type becomes Ember ops.
///
/// Ember's ops follow the newest ONNX semantics, so most ONNX ops map `.direct`ly: same inputs,
/// same attributes, same outputs. Older forms (an attribute that later became an input, say)
/// are rewritten to the newest form in a `.custom` converter, which sees the opset version.
public enum ONNXConverter: Sendable {
    /// Inputs, attributes and outputs carried over as they are.
    case direct(any Operator.Type)
    /// A converter that emits whatever nodes it needs through the context.
    case custom(@Sendable (inout ONNXNodeContext) throws -> Void)
}

/// What a converter sees of one ONNX node, and how it adds Ember nodes for it.
public struct ONNXNodeContext {
    /// The ONNX op type, e.g. `ReduceSum`.
    public let opType: String
    /// The node's name (or a generated one), for error messages.
    public let nodeName: String
    /// The default domain's opset version the model imports.
    public let opset: Int
    /// The node's attributes in Ember form; `opName` is the ONNX op type.
    public var attributes: Attributes
    /// The node's inputs; nil for an empty (omitted optional) input name.
    public var inputs: [ValueID?]
    /// How many outputs the node declares (trailing omitted outputs dropped).
    public let outputCount: Int

    var builder: GraphBuilder
    let outputNames: [String]
    var emittedOutputs: [ValueID]? = nil

    init(
        opType: String, nodeName: String, opset: Int, attributes: Attributes, inputs: [ValueID?],
        outputNames: [String], builder: GraphBuilder
    ) {
        self.opType = opType
        self.nodeName = nodeName
        self.opset = opset
        self.attributes = attributes
        self.inputs = inputs
        self.outputNames = outputNames
        self.outputCount = outputNames.count
        self.builder = builder
    }

    /// Input `i`, which must be present.
    public func input(_ i: Int) throws -> ValueID {
        guard i < inputs.count, let id = inputs[i] else {
            throw EmberError(.invalidModel, "[\(opType)] input \(i) is required")
        }
        return id
    }

    /// The type of input `i`, if present.
    public func type(_ i: Int) -> TensorType? {
        guard i < inputs.count, let id = inputs[i] else { return nil }
        return builder.graph.type(of: id)
    }

    /// The value of input `i` when it is a constant (an initializer or a folded `Constant`).
    public func constant(_ i: Int) -> Tensor? {
        guard i < inputs.count, let id = inputs[i] else { return nil }
        return builder.graph.constants[id]
    }

    /// Adds a constant and returns its value.
    public mutating func constant(_ tensor: Tensor, name: String? = nil) -> ValueID {
        builder.constant(tensor, name: name ?? "\(nodeName)_const")
    }

    /// Adds an intermediate node, whose outputs get fresh names.
    public mutating func emit(_ op: any Operator, _ inputs: [ValueID?], outputs: Int = 1) throws -> [ValueID] {
        try builder.add(op, inputs, outputs: outputs, names: nil, nodeName: nodeName)
    }

    /// Adds the node that produces the ONNX node's outputs, under their names.
    public mutating func emitFinal(_ op: any Operator, _ inputs: [ValueID?]) throws {
        emittedOutputs = try builder.add(
            op, inputs, outputs: outputCount, names: outputNames, nodeName: nodeName)
    }

    /// Makes the ONNX node's single output another name for `value` (no node is added).
    public mutating func alias(_ value: ValueID) {
        emittedOutputs = [value]
    }

    /// Builds Ember op `op` from this node's (possibly rewritten) attributes.
    public func make(_ op: any Operator.Type) throws -> any Operator {
        var attrs = attributes
        attrs.opName = op.name
        return try op.init(attributes: attrs)
    }

    /// Moves attribute `name` (a list of integers) into input slot `index` as an i64 constant,
    /// the form newer opsets use (`axes`, `split`, `pads`...). Does nothing if the attribute is absent.
    public mutating func moveAttributeToInput(_ name: String, index: Int) throws {
        guard let values = try attributes.ints(name) else { return }
        attributes[name] = nil
        let id = constant(Tensor(shape: [values.count], int64s: values.map(Int64.init)), name: "\(nodeName)_\(name)")
        while inputs.count <= index { inputs.append(nil) }
        inputs[index] = id
    }
}
