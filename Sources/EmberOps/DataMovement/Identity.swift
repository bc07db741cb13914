import EmberIR

/// Its input, unchanged.
public struct Identity: Operator, AttributeFree {
    public static let name = "identity"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { [.dataMovement, .view] }

    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        [try inputs.type(0)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        [try inputs.required(0, Self.name)]
    }
}
