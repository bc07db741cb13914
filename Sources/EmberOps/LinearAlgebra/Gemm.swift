import EmberIR

/// `alpha * A' * B' + beta * C`, where `A'` and `B'` are the 2-D operands, transposed when
/// `transA`/`transB` is set, and the optional `C` broadcasts to `[m, n]` (ONNX `Gemm`).
///
///     gemm(f32[batch, 768], f32[1000, 768], f32[1000]) {transB = 1} -> f32[batch, 1000]
public struct Gemm: Operator {
    public static let name = "gemm"
    public static let inputArity: ClosedRange<Int> = 2...3

    public var alpha: Double
    public var beta: Double
    public var transA: Bool
    public var transB: Bool

    public init(alpha: Double = 1, beta: Double = 1, transA: Bool = false, transB: Bool = false) {
        self.alpha = alpha
        self.beta = beta
        self.transA = transA
        self.transB = transB
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["alpha", "beta", "transA", "transB"])
        self.init(
            alpha: try attributes.float("alpha", default: 1), beta: try attributes.float("beta", default: 1),
            transA: try attributes.bool("transA", default: false), transB: try attributes.bool("transB", default: false))
    }

    public var attributes: Attributes {
        Attributes(op: Self.name, [
            ("alpha", .float(alpha)), ("beta", .float(beta)),
            ("transA", .int(transA ? 1 : 0)), ("transB", .int(transB ? 1 : 0)),
        ])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (a, b) = (try inputs.type(0), try inputs.type(1))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(MatrixProduct.dtypes, Self.name)
        try a.expectRank(2, Self.name, input: "A")
        try b.expectRank(2, Self.name, input: "B")
        var m: Dim = .unknown, n: Dim = .unknown
        if let sa = a.shape, let sb = b.shape {
            let ka = transA ? sa[0] : sa[1]
            let kb = transB ? sb[1] : sb[0]
            if let x = ka.value, let y = kb.value, x != y {
                throw EmberError(.shapeMismatch, "[\(Self.name)] inner dims differ: A \(a), B \(b) (transA \(transA), transB \(transB))")
            }
        }
        if let sa = a.shape { m = transA ? sa[1] : sa[0] }
        if let sb = b.shape { n = transB ? sb[0] : sb[1] }
        if inputs.has(2) {
            let c = try inputs.type(2)
            try Elementwise.expectSameDType(a.dtype, c.dtype, Self.name)
            if let sc = c.shape {
                guard sc.count <= 2 else {
                    throw EmberError(.shapeMismatch, "[\(Self.name)] C has rank \(sc.count), expected at most 2")
                }
                let padded = [Dim](repeating: .known(1), count: 2 - sc.count) + sc
                for (dim, target) in zip(padded, [m, n]) {
                    if let x = dim.value, x != 1, let y = target.value, x != y {
                        throw EmberError(.shapeMismatch, "[\(Self.name)] C \(c) does not broadcast to [\(m), \(n)]")
                    }
                }
            }
        }
        return [TensorType(a.dtype, [m, n])]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let (a, b) = (try inputs.required(0, Self.name), try inputs.required(1, Self.name))
        try Elementwise.expectSameDType(a.dtype, b.dtype, Self.name)
        try a.expectDType(MatrixProduct.dtypes, Self.name)
        guard a.rank == 2, b.rank == 2 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] expected 2-D A and B, received shapes \(a.shape) and \(b.shape)")
        }
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] inner dims differ: A \(a.shape), B \(b.shape) (transA \(transA), transB \(transB))")
        }
        var bias: [Int]? = nil
        let c = inputs.optional(2)
        if let c {
            try Elementwise.expectSameDType(a.dtype, c.dtype, Self.name)
            guard c.rank <= 2, (try? Broadcast.shape(c.shape, [m, n], op: Self.name)) == [m, n] else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] C of shape \(c.shape) does not broadcast to [\(m), \(n)]")
            }
            bias = Broadcast.indices(from: c.shape, to: [m, n])
        }
        // f16 and bf16 compute in f64 and round once at the end.
        let work: DType = a.dtype.isFloatingPoint && a.dtype != .f32 ? .f64 : a.dtype
        let product = MatrixProduct.multiply(
            MatrixOperand(tensor: a.cast(to: work), offsets: [0], rowStride: transA ? 1 : a.shape[1], colStride: transA ? a.shape[1] : 1),
            MatrixOperand(tensor: b.cast(to: work), offsets: [0], rowStride: transB ? 1 : b.shape[1], colStride: transB ? b.shape[1] : 1),
            m: m, n: n, k: k)
        var y = Tensor(shape: [m, n], storage: product)
        if alpha == 1, bias == nil || beta == 0 { return [y.cast(to: a.dtype)] }
        switch y.storage {
        case .f32(var values):
            let (alpha, beta) = (Float(alpha), Float(beta))
            let cs = c?.floats() ?? []
            values.withUnsafeMutableBufferPointer { v in
                cs.withUnsafeBufferPointer { cp in
                    for i in 0..<v.count { v[i] *= alpha }
                    if let bias, beta != 0 {
                        for i in 0..<v.count { v[i] += beta * cp[bias[i]] }
                    }
                }
            }
            y.storage = .f32(values)
        case _ where a.dtype.isFloatingPoint:
            var values = y.doubles().map { $0 * alpha }
            if let bias, let c, beta != 0 {
                let cs = c.doubles()
                for i in values.indices { values[i] += beta * cs[bias[i]] }
            }
            y = Tensor(a.dtype, shape: [m, n], doubles: values)
        default:
            let (ia, ib) = (Int64.saturating(alpha), Int64.saturating(beta))
            var values = y.int64s().map { $0 &* ia }
            if let bias, let c, beta != 0 {
                let cs = c.int64s()
                for i in values.indices { values[i] = values[i] &+ ib &* cs[bias[i]] }
            }
            y = Tensor(a.dtype, shape: [m, n], int64s: values)
        }
        return [y]
    }
}
