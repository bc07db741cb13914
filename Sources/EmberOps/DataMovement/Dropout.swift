import EmberIR

/// Inference-time dropout: the input unchanged, and optionally a mask of all `true`. Training mode
/// (input 2 true) with a nonzero ratio is random and is refused.
public struct Dropout: Operator {
    public static let name = "dropout"
    public static let inputArity: ClosedRange<Int> = 1...3
    public static let outputArity: ClosedRange<Int> = 1...2

    /// The random seed of training mode; kept so printing gives it back.
    public var seed: Int?

    public init(seed: Int? = nil) { self.seed = seed }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["seed"])
        seed = try attributes.int("seed")
    }
    public var attributes: Attributes { Attributes(op: Self.name, seed.map { [("seed", .int($0))] } ?? []) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        if inputs.has(1) { try inputs.type(1).expectDType(DType.floatingPoint, Self.name, input: "ratio") }
        if inputs.has(2) { try inputs.type(2).expectDType([.bool], Self.name, input: "training_mode") }
        if let training = inputs.constant(2), training.bools().first == true,
            inputs.constant(1)?.scalarDouble ?? 0.5 != 0
        {
            throw EmberError(.unsupported, "[\(Self.name)] training mode is not supported")
        }
        return [x, TensorType(.bool, x.shape)].prefix(outputCount).map { $0 }
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        if let training = inputs.optional(2), training.bools().first == true {
            let ratio = inputs.optional(1)?.scalarDouble ?? 0.5
            guard ratio == 0 else {
                throw EmberError(.unsupported, "[\(Self.name)] training mode with ratio \(ratio) is not supported")
            }
        }
        if outputCount == 1 { return [x] }
        return [x, Tensor(shape: x.shape, bools: [Bool](repeating: true, count: x.count))]
    }
}
