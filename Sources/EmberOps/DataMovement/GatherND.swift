import EmberIR

/// Gathers slices of `data` addressed by index tuples: the last dim of `indices` (`m`) indexes the
/// data dims after the first `batch_dims`, which `data` and `indices` share.
///
///     gather_nd(f32[2,3,4], i64[5,2]) -> f32[5,4]
public struct GatherND: Operator {
    public static let name = "gather_nd"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { .dataMovement }

    public var batchDims: Int

    public init(batchDims: Int = 0) { self.batchDims = batchDims }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["batch_dims"])
        batchDims = try attributes.int("batch_dims", default: 0)
        guard batchDims >= 0 else {
            throw EmberError(.invalidArgument, "[\(Self.name)] batch_dims is \(batchDims), expected 0 or more")
        }
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("batch_dims", .int(batchDims))]) }

    /// Checks ranks and returns `m`, the length of each index tuple, when known.
    func tupleLength(dataRank r: Int, indexShape: [Dim]) throws -> Int? {
        let q = indexShape.count
        guard q >= 1, r >= 1, batchDims < min(q, r) else {
            throw EmberError(
                .shapeMismatch,
                "[\(Self.name)] data rank \(r) and indices rank \(q) expected at least 1 and more than batch_dims \(batchDims)")
        }
        guard let m = indexShape[q - 1].value else { return nil }
        guard m >= 1, m <= r - batchDims else {
            throw EmberError(
                .shapeMismatch, "[\(Self.name)] index tuples have \(m) entries, expected 1 to \(r - batchDims)")
        }
        return m
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (data, indices) = (try inputs.type(0), try inputs.type(1))
        try indices.expectDType([.i64], Self.name, input: "indices")
        guard let shape = data.shape, let indexShape = indices.shape else { return [TensorType(data.dtype, nil)] }
        guard let m = try tupleLength(dataRank: shape.count, indexShape: indexShape) else {
            return [TensorType(data.dtype, nil)]
        }
        for k in 0..<batchDims { _ = try Dim.merged(shape[k], indexShape[k], Self.name) }
        return [TensorType(data.dtype, Array(indexShape.dropLast()) + Array(shape[(batchDims + m)...]))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (data, indexTensor) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        let b = batchDims
        guard let m = try tupleLength(dataRank: data.rank, indexShape: indexTensor.shape.map { .known($0) }) else {
            throw EmberError(.internalError, "[\(Self.name)] index tuple length unknown")
        }
        guard Array(data.shape[..<b]) == Array(indexTensor.shape[..<b]) else {
            throw EmberError(
                .shapeMismatch, "[\(Self.name)] batch dims of data \(data.shape) and indices \(indexTensor.shape) differ")
        }
        let values = try indexTensor.indexValues(Self.name, input: "indices")
        let strides = Tensor.strides(of: data.shape)
        let batches = data.shape[..<b].reduce(1, *)
        let batchStride = b == 0 ? data.count : strides[b - 1]
        let inner = data.shape[(b + m)...].reduce(1, *)
        let tuplesPerBatch = indexTensor.shape[b..<(indexTensor.rank - 1)].reduce(1, *)
        var indices: [Int] = []
        indices.reserveCapacity(batches * tuplesPerBatch * inner)
        var t = 0
        for batch in 0..<batches {
            for _ in 0..<tuplesPerBatch {
                var offset = batch * batchStride
                for j in 0..<m {
                    let i = try DataMovementChecks.index(values[t * m + j], size: data.shape[b + j], Self.name)
                    offset += i * strides[b + j]
                }
                indices.append(contentsOf: offset..<(offset + inner))
                t += 1
            }
        }
        let shape = Array(indexTensor.shape.dropLast()) + Array(data.shape[(b + m)...])
        return [data.gathering(indices, shape: shape)]
    }
}
