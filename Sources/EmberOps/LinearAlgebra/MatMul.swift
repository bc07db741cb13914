import EmberIR

/// NumPy `matmul`: `[..., m, k] x [..., k, n] -> [..., m, n]` with the batch dims broadcast.
/// A 1-D first operand is a row vector and a 1-D second operand a column vector; the dim
/// they add is removed from the result.
///
///     matmul(f32[batch, 128, 768], f32[768, 3072]) -> f32[batch, 128, 3072]
public struct MatMul: Operator, AttributeFree {
    public static let name = "matmul"
    public static let inputArity: ClosedRange<Int> = 2...2
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (a, b) = (try inputs.type(0), try inputs.type(1))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(MatrixProduct.dtypes, Self.name)
        guard let sa = a.shape, let sb = b.shape else { return [TensorType(a.dtype, nil)] }
        guard sa.count >= 1, sb.count >= 1 else {
            throw EmberError.op(Self.name, "expected operands of rank 1 or more, received ranks \(sa.count) and \(sb.count)", code: .shapeMismatch)
        }
        let ka = sa[sa.count - 1]
        let kb = sb.count == 1 ? sb[0] : sb[sb.count - 2]
        if let x = ka.value, let y = kb.value, x != y {
            throw EmberError(.shapeMismatch, "[\(Self.name)] inner dims differ: \(a) and \(b)")
        }
        let batchA = Array(sa.dropLast(sa.count == 1 ? 1 : 2))
        let batchB = Array(sb.dropLast(sb.count == 1 ? 1 : 2))
        guard var out = try Broadcast.dims(batchA, batchB, op: Self.name) else { return [TensorType(a.dtype, nil)] }
        if sa.count >= 2 { out.append(sa[sa.count - 2]) }
        if sb.count >= 2 { out.append(sb[sb.count - 1]) }
        return [TensorType(a.dtype, out)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (a, b) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(MatrixProduct.dtypes, Self.name)
        guard a.rank >= 1, b.rank >= 1 else {
            throw EmberError.op(Self.name, "expected operands of rank 1 or more, received ranks \(a.rank) and \(b.rank)", code: .shapeMismatch)
        }
        let sa = a.rank == 1 ? [1] + a.shape : a.shape
        let sb = b.rank == 1 ? b.shape + [1] : b.shape
        let (m, k) = (sa[sa.count - 2], sa[sa.count - 1])
        let (kb, n) = (sb[sb.count - 2], sb[sb.count - 1])
        guard k == kb else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] inner dims differ: shapes \(a.shape) and \(b.shape)")
        }
        let batchA = Array(sa.dropLast(2)), batchB = Array(sb.dropLast(2))
        let batch = try Broadcast.shape(batchA, batchB, op: Self.name)
        let ia = Broadcast.indices(from: batchA, to: batch)
        let ib = Broadcast.indices(from: batchB, to: batch)
        var shape = batch
        if a.rank >= 2 { shape.append(m) }
        if b.rank >= 2 { shape.append(n) }
        let storage = MatrixProduct.multiply(
            MatrixOperand(tensor: a, offsets: ia.map { $0 * m * k }, rowStride: k, colStride: 1),
            MatrixOperand(tensor: b, offsets: ib.map { $0 * k * n }, rowStride: n, colStride: 1),
            m: m, n: n, k: k)
        return [Tensor(shape: shape, storage: storage)]
    }
}
