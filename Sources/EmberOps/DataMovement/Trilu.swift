import EmberIR

/// The upper (or lower) triangle of the last two dims, other elements zero: with `upper`, element
/// `[i, j]` is kept where `j - i >= k`; otherwise where `j - i <= k` (`k` is input 1, default 0).
public struct Trilu: Operator {
    public static let name = "trilu"
    public static let inputArity: ClosedRange<Int> = 1...2

    public var upper: Bool

    public init(upper: Bool = true) { self.upper = upper }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["upper"])
        upper = try attributes.bool("upper", default: true)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("upper", .int(upper ? 1 : 0))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        if let r = x.rank, r < 2 {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(r), expected at least 2")
        }
        if inputs.has(1) {
            let k = try inputs.type(1)
            try k.expectDType([.i64], Self.name, input: "k")
        }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        guard x.rank >= 2 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] input has rank \(x.rank), expected at least 2")
        }
        var k = 0
        if let kt = inputs.optional(1) {
            guard let v = kt.scalarInt else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] k has \(kt.count) elements, expected 1")
            }
            k = v
        }
        let (rows, cols) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        var indices = Array(0..<x.count)
        let matrix = rows * cols
        for m in 0..<(matrix == 0 ? 0 : x.count / matrix) {
            for i in 0..<rows {
                for j in 0..<cols {
                    let d = j - i
                    if upper ? d < k : d > k { indices[m * matrix + i * cols + j] = IndexMaps.fill }
                }
            }
        }
        return [IndexMaps.gatheringWithFill(x, indices, shape: x.shape, value: nil)]
    }
}
