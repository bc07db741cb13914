import EmberIR

/// An op (the anchor: a convolution or matrix product) followed by elementwise steps on its result,
/// such as a bias add, an activation or a residual add, run as one: step 0 is the anchor and reads
/// only the node's inputs; every later step is elementwise. A backend runs the steps after the
/// anchor as the anchor's epilogue, or takes the node apart with `FusedOps.unfuse`.
///
///     %y = fused_epilogue(%x, %w, %r) {s0.pads = [1, 1, 1, 1],
///            steps = ["conv($0, $1)", "add(%0, $2)", "relu(%1)"]} : f32[1,64,56,56]
///
/// See `FusedBody` for the attributes.
public struct FusedEpilogue: Operator {
    public static let name = "fused_epilogue"
    public static let inputArity: ClosedRange<Int> = 1...Int.max

    public var body: FusedBody

    /// The op whose result the epilogue transforms.
    public var anchor: any Operator { body.steps[0].op }

    /// A fused op from an anchor step followed by at least one elementwise step.
    public init(_ body: FusedBody) throws {
        guard body.steps.count >= 2 else {
            throw EmberError.op(Self.name, "expected an anchor and at least one epilogue step")
        }
        for case .step? in body.steps[0].operands {
            throw EmberError.op(Self.name, "the anchor (step 0) must read only the node's inputs")
        }
        for (k, step) in body.steps.enumerated().dropFirst() where !step.op.traits.contains(.elementwise) {
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
