import EmberIR
import EmberOps

/// What the CUDA kernel provider sees of one node: the op, the concrete types of its inputs and
/// outputs (kernels are specialized for shapes), and the inputs that are constants.
public struct CUDANode: Sendable {
    public var op: any Operator
    /// The model node's name, for messages.
    public var name: String
    /// nil marks an absent optional input.
    public var inputs: [CUDATensorType?]
    public var outputs: [CUDATensorType]
    /// The value of each input that is a graph constant; nil for computed inputs.
    public var constants: [Tensor?]

    public init(
        op: any Operator, name: String = "", inputs: [CUDATensorType?], outputs: [CUDATensorType],
        constants: [Tensor?]? = nil
    ) {
        self.op = op
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.constants = constants ?? Array(repeating: nil, count: inputs.count)
    }

    /// A node for `op` applied to tensors of these types, its output types inferred by the op.
    public init(op: any Operator, name: String = "", inputs: [CUDATensorType?], constants: [Tensor?]? = nil) throws {
        let types = inputs.map { $0.map { TensorType($0.dtype, known: $0.shape) } }
        let consts = constants ?? Array(repeating: nil, count: inputs.count)
        let outputTypes = try op.inferTypes(OpInputs(op.name, types: types, constants: consts), outputCount: 1)
        var outputs: [CUDATensorType] = []
        for t in outputTypes {
            guard let shape = t.knownShape else {
                throw EmberError(.unsupported, "[\(op.name)] output type \(t) is not fully known")
            }
            outputs.append(CUDATensorType(t.dtype, shape))
        }
        self.init(op: op, name: name, inputs: inputs, outputs: outputs, constants: consts)
    }

    /// "node 'NAME' (op)" or "op OP", for messages.
    public var location: String { name.isEmpty ? "op \(op.name)" : "node '\(name)' (\(op.name))" }
}

/// Whether the CUDA provider runs a node, and if not, why: shown by `ember inspect`.
public enum CUDASupport: Sendable, Equatable {
    case supported
    case unsupported(String)

    public var isSupported: Bool { self == .supported }
}

/// One node made runnable on the device: built once, then run many times. `inputs` holds a
/// buffer per present input, in order (absent optional inputs are skipped); every element of
/// each output buffer is written.
public protocol CUDAOpKernel: Sendable {
    func run(_ inputs: [CUDABuffer], _ outputs: [CUDABuffer], stream: CUDAStream) throws
}
