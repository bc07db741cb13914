import EmberIR

/// A fully connected layer: `x[..., K] @ W[K, N] + b[N]`, with any number of leading dims
/// (symbolic ones included) and the bias optional. The weight is stored `[K, N]`, as the
/// `matmul` it replaces reads it.
///
///     linear(f32[batch, seq, 768], f32[768, 3072], f32[3072]) -> f32[batch, seq, 3072]
public struct Linear: Operator, AttributeFree {
    public static let name = "linear"
    public static let inputArity: ClosedRange<Int> = 2...3
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (x, w) = (try inputs.type(0), try inputs.type(1))
        try x.expectDType(MatrixProduct.dtypes, Self.name)
        try Elementwise.expectSameDType(x.dtype, w.dtype, Self.name)
        try w.expectRank(2, Self.name, input: "W")
        let n: Dim = w.shape?[1] ?? .unknown
        if inputs.has(2) {
            let b = try inputs.type(2)
            try Elementwise.expectSameDType(x.dtype, b.dtype, Self.name)
            try b.expectRank(1, Self.name, input: "B")
            if let size = b.shape?[0].value, let nn = n.value, size != nn {
                throw EmberError(.shapeMismatch, "[\(Self.name)] B has \(size) elements, expected \(nn)")
            }
        }
        guard let xs = x.shape else { return [TensorType(x.dtype, nil)] }
        guard !xs.isEmpty else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] x has rank 0, expected 1 or more")
        }
        if let k = xs[xs.count - 1].value, let kw = w.shape?[0].value, k != kw {
            throw EmberError(.shapeMismatch, "[\(Self.name)] inner dims differ: x \(x), W \(w)")
        }
        return [TensorType(x.dtype, Array(xs.dropLast()) + [n])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (x, w) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        guard x.rank >= 1, w.rank == 2 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] expected x of rank 1 or more and a 2-D W, received shapes \(x.shape) and \(w.shape)")
        }
        var y = try MatMul().evaluate([x, w], outputCount: 1)[0]
        guard let b = inputs.optional(2) else { return [y] }
        try Elementwise.expectSameDType(x.dtype, b.dtype, Self.name)
        let n = w.shape[1]
        guard b.shape == [n] else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] B has shape \(b.shape), expected [\(n)]")
        }
        y = try Add().evaluate([y, b], outputCount: 1)[0]
        return [y]
    }
}
