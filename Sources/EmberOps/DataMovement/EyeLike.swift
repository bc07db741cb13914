import EmberIR

/// A 2-D tensor shaped like the input with ones on diagonal `k` (above the main one for positive `k`)
/// and zeros elsewhere, of `dtype` (default: the input's).
public struct EyeLike: Operator {
    public static let name = "eye_like"
    public static let inputArity: ClosedRange<Int> = 1...1

    public var dtype: DType?
    public var k: Int

    public init(dtype: DType? = nil, k: Int = 0) {
        self.dtype = dtype
        self.k = k
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["dtype", "k"])
        dtype = try attributes.dtype("dtype")
        k = try attributes.int("k", default: 0)
    }
    public var attributes: Attributes {
        var list: [(String, Attribute)] = [("k", .int(k))]
        if let dtype { list.append(("dtype", .dtype(dtype))) }
        return Attributes(op: Self.name, list)
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectRank(2, Self.name)
        return [TensorType(dtype ?? x.dtype, x.shape ?? [.unknown, .unknown])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        guard x.rank == 2 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(x.rank), expected 2")
        }
        let (rows, cols) = (x.shape[0], x.shape[1])
        var values = [Int64](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            let (j, overflow) = i.addingReportingOverflow(k)
            if !overflow, j >= 0, j < cols { values[i * cols + j] = 1 }
        }
        return [Tensor(dtype ?? x.dtype, shape: x.shape, int64s: values)]
    }
}
