import EmberIR
import EmberOps

/// What a kernel provider sees of one node: the op with its attributes, the static types of its
/// inputs and outputs (dims may be symbolic), the inputs that are constants (weights), and the
/// layouts the planner chose for each input and output.
public struct KernelNode: Sendable {
    public var op: any Operator
    /// The model node's name, for messages.
    public var name: String
    /// nil marks an absent optional input.
    public var inputTypes: [TensorType?]
    public var outputTypes: [TensorType]
    /// The constant value of each input that is a graph constant; nil for computed inputs.
    public var constants: [Tensor?]
    public var inputLayouts: [CPULayout]
    public var outputLayouts: [CPULayout]
    /// The packed copy of each input that is a held constant (`Graph.heldConstants`), from an
    /// engine file; nil elsewhere.
    var packedWeights: [PackedWeights?] = []

    public init(
        op: any Operator, name: String = "", inputTypes: [TensorType?], outputTypes: [TensorType],
        constants: [Tensor?]? = nil, inputLayouts: [CPULayout]? = nil, outputLayouts: [CPULayout]? = nil
    ) {
        self.op = op
        self.name = name
        self.inputTypes = inputTypes
        self.outputTypes = outputTypes
        self.constants = constants ?? Array(repeating: nil, count: inputTypes.count)
        self.inputLayouts = inputLayouts ?? Array(repeating: .plain, count: inputTypes.count)
        self.outputLayouts = outputLayouts ?? Array(repeating: .plain, count: outputTypes.count)
        packedWeights = Array(repeating: nil, count: inputTypes.count)
    }

    /// "node 'NAME' (op)" or "op OP", for messages.
    public var location: String { name.isEmpty ? "op \(op.name)" : "node '\(name)' (\(op.name))" }
}

/// Whether a provider runs a node, and if not, why: the reason is shown by `ember inspect`.
public enum KernelSupport: Sendable, Equatable {
    case supported
    case unsupported(String)

    public var isSupported: Bool { self == .supported }
}

/// One node made runnable: built once when the engine is built (weights packed, primitives
/// prepared), then run many times and from many threads at once. A kernel keeps no per-run state
/// of its own; what a run needs beyond its inputs and outputs comes from the context.
public protocol CPUKernel: Sendable {
    /// Reads `inputs` (nil for absent optional inputs) and writes every element of `outputs`. The
    /// views carry the run's concrete shapes and the layouts in the kernel's `KernelNode`.
    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws

    /// The inputs whose constant this kernel copied into a form of its own when it was built
    /// (weights reordered for a primitive) and never reads from the program again. When every
    /// reader of a constant owns it, the program lets the graph's copy go.
    var ownedConstants: [Int] { get }

    /// The constant at input `position` as the graph held it, rebuilt from the kernel's own copy.
    func restoredConstant(at position: Int) throws -> Tensor

    /// The kernel's packed copy of the constant at input `position`, for an engine file to store
    /// in its place; nil when it keeps none that can be stored.
    func packedConstant(at position: Int) -> PackedConstant?

    /// The implementation that runs for inputs of `shapes`, for reports: oneDNN's own name for its
    /// kernels ("brg:avx512_core", "ref:any"...), the kernel's name for Ember's.
    func implementation(for shapes: [[Int]?]) -> KernelImplementation
}

/// The implementation a CPU kernel runs, as a report names it.
public struct KernelImplementation: Sendable, Hashable, CustomStringConvertible {
    /// oneDNN's implementation string, or the name of Ember's kernel.
    public var name: String
    /// Whether it is a reference loop (oneDNN's `ref:` kernels, Ember's reference evaluation):
    /// correct, but tens to thousands of times slower than an optimized kernel.
    public var isReference: Bool

    public init(_ name: String, isReference: Bool = false) {
        self.name = name
        self.isReference = isReference
    }

    public var description: String { name }
}

extension CPUKernel {
    public func implementation(for shapes: [[Int]?]) -> KernelImplementation {
        KernelImplementation("ember:" + String(describing: type(of: self)).replacingOccurrences(of: "Kernel", with: "").lowercased())
    }

    public var ownedConstants: [Int] { [] }

    public func packedConstant(at position: Int) -> PackedConstant? { nil }

    public func restoredConstant(at position: Int) throws -> Tensor {
        throw EmberError(.internalError, "this kernel holds no copy of input \(position)")
    }
}

/// A family of kernels for the CPU backend (oneDNN's primitives, Ember's own vectorized kernels).
/// The partitioner asks each provider, in order of preference, whether it runs a node; the first
/// that does builds its kernel.
public protocol CPUKernelProvider: Sendable {
    /// A short name shown in the partition report: "onednn", "ember".
    var name: String { get }

    /// Whether this provider can run `node` with all inputs and outputs `.plain`, and if not, why.
    func support(_ node: KernelNode) -> KernelSupport

    /// The layout this provider would like output `index` in; the planner uses it when every
    /// consumer accepts it, and `.plain` otherwise.
    func preferredLayout(_ node: KernelNode, output index: Int) -> CPULayout

    /// Whether the kernel can read input `index` in `layout` (it always accepts `.plain`).
    func accepts(_ node: KernelNode, input index: Int, layout: CPULayout) -> Bool

    /// The input whose buffer output `index` may be written into (the kernel reads each element
    /// before writing the same position, like an elementwise op), or nil. The planner reuses the
    /// buffer only when that input is not read afterwards and its size and layout match.
    func inPlaceInput(_ node: KernelNode, output index: Int) -> Int?

    /// The kernel for `node`, with the layouts in `node.inputLayouts` and `node.outputLayouts`.
    func makeKernel(_ node: KernelNode) throws -> any CPUKernel

    /// A kernel that copies a value of `type` from one layout to another, for the copies the planner
    /// makes of this provider's outputs; nil leaves it to Ember's generic copy.
    func conversion(type: TensorType, from: CPULayout, to: CPULayout) -> (any CPUKernel)?
}

extension CPUKernelProvider {
    public func preferredLayout(_ node: KernelNode, output index: Int) -> CPULayout { .plain }
    public func accepts(_ node: KernelNode, input index: Int, layout: CPULayout) -> Bool { layout == .plain }
    public func inPlaceInput(_ node: KernelNode, output index: Int) -> Int? { nil }
    public func conversion(type: TensorType, from: CPULayout, to: CPULayout) -> (any CPUKernel)? { nil }
}

/// What one execution context lends its kernels during a run: scratch memory that is reused from
/// node to node, and per-context state. A context is used by one thread at a time, so kernels may
/// use it freely.
public final class KernelContext: @unchecked Sendable {
    private var scratchMemory: AlignedMemory?
    private var states: [ObjectIdentifier: AnyObject] = [:]

    public init() {}

    /// At least `bytes` bytes, 64-byte aligned, valid until the next call; the contents are not kept.
    public func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        if let scratchMemory, bytes <= scratchMemory.byteCount { return scratchMemory.pointer }
        let grown = AlignedMemory(byteCount: max(bytes, 4096))
        scratchMemory = grown
        return grown.pointer
    }

    /// The context's one object of type `T` (a library's stream, say), made by `make` on first
    /// use and kept as long as the context.
    public func state<T: AnyObject>(_ make: () throws -> T) rethrows -> T {
        let key = ObjectIdentifier(T.self)
        if let state = states[key] as? T { return state }
        let state = try make()
        states[key] = state
        return state
    }
}
