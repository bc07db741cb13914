import EmberIR

/// A 2-D view: dims before `axis` multiply into the first output dim, the rest into the second.
///
///     flatten(f32[batch,3,4], axis: 1) -> f32[batch,12]
public struct Flatten: Operator {
    public static let name = "flatten"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { [.dataMovement, .view] }

    public var axis: Int

    public init(axis: Int = 1) { self.axis = axis }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        axis = try attributes.int("axis", default: 1)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis))]) }

    func split(rank: Int) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a <= rank else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(rank)")
        }
        return a
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        guard let shape = x.shape else { return [TensorType(x.dtype, [.unknown, .unknown])] }
        let a = try split(rank: shape.count)
        return [TensorType(x.dtype, [Dim.symbolicProduct(shape[..<a]), Dim.symbolicProduct(shape[a...])])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let a = try split(rank: x.rank)
        return [x.reshaped([x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])]
    }
}
