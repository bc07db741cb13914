import EmberIR

/// A chain or single-output DAG of elementwise ops run as one: every step reads the node's inputs
/// (broadcast as the step's op broadcasts them) or earlier steps, and the last step is the output.
/// A backend runs it as one kernel, or takes it apart with `FusedOps.unfuse`.
///
///     %y = fused_elementwise(%x, %b) {names = ["sum"], steps = ["add($0, $1)", "relu(%0)"]} : f32[batch,64]
///
/// See `FusedBody` for the attributes.
public struct FusedElementwise: Operator {
    public static let name = "fused_elementwise"
    public static let inputArity: ClosedRange<Int> = 1...Int.max
    public static var traits: OpTraits { .elementwise }

    public var body: FusedBody

    /// A fused op from steps whose ops are all elementwise.
    public init(_ body: FusedBody) throws {
        for (k, step) in body.steps.enumerated() where !step.op.traits.contains(.elementwise) {
            throw EmberError.op(Self.name, "step \(k) (\(step.op.name)) is not elementwise")
        }
        self.body = body
    }

    public init(attributes: Attributes) throws {
        try self.init(FusedBody(attributes: attributes))
    }

    public var attributes: Attributes { body.attributes(op: Self.name) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        guard let last = try body.stepTypes(inputs, op: Self.name).last else { return [] }
        return [last]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        [try body.evaluate(inputs, op: Self.name)]
    }
}
