import EmberIR

/// Permutes the axes: output axis `k` is input axis `perm[k]`; without `perm`, the axes reverse.
///
///     transpose(f32[batch,128,12,64], perm: [0, 2, 1, 3]) -> f32[batch,12,128,64]
public struct Transpose: Operator {
    public static let name = "transpose"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .dataMovement }

    /// nil reverses the axes, whatever the rank.
    public var perm: [Int]?

    public init(perm: [Int]? = nil) { self.perm = perm }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["perm"])
        perm = try attributes.ints("perm")
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, perm.map { [("perm", .ints($0))] } ?? [])
    }

    /// The permutation for a tensor of `rank`, validated.
    func permutation(rank: Int) throws -> [Int] {
        guard let perm else { return Array((0..<rank).reversed()) }
        guard perm.count == rank, perm.sorted() == Array(0..<rank) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] perm \(perm) is not a permutation of the \(rank) axes")
        }
        return perm
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        guard let shape = x.shape else { return [TensorType(x.dtype, perm.map { [Dim](repeating: .unknown, count: $0.count) })] }
        return [TensorType(x.dtype, try permutation(rank: shape.count).map { shape[$0] })]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let p = try permutation(rank: x.rank)
        let shape = p.map { x.shape[$0] }
        if p == Array(0..<x.rank) { return [x] }
        return [x.gathering(IndexMaps.transpose(x.shape, perm: p), shape: shape)]
    }
}
