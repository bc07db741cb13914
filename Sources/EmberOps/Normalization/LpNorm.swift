import EmberIR

/// `x / ||x||_p` along `axis`, ONNX `LpNormalization` (`p` is 1 or 2); a zero norm gives 0.
public struct LpNorm: Operator, FloatMap {
    public static let name = "lp_norm"
    public static let inputArity: ClosedRange<Int> = 1...1
    public var axis: Int
    public var p: Int

    public init(axis: Int = -1, p: Int = 2) {
        self.axis = axis
        self.p = p
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis", "p"])
        axis = try attributes.int("axis", default: -1)
        p = try attributes.int("p", default: 2)
        guard p == 1 || p == 2 else { throw EmberError.op(Self.name, "expected p to be 1 or 2, received \(p)") }
    }

    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis)), ("p", .int(p))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        if let rank = x.rank { _ = try Axes.normalize(axis, rank: rank, op: Self.name) }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        _ = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        return [try apply(x)]
    }

    func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws {
        try kernel(x, y, shape: shape)
    }
    func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) throws {
        try kernel(x, y, shape: shape)
    }

    private func kernel<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, shape: [Int]) throws {
        let layout = AxisLayout(shape, axis: try Axes.normalize(axis, rank: shape.count, op: Self.name))
        for line in 0..<layout.lines {
            let base = layout.base(line)
            var norm = 0.0
            for j in 0..<layout.size {
                let v = Double(x[base + j * layout.inner])
                norm += p == 1 ? Swift.abs(v) : v * v
            }
            if p == 2 { norm = norm.squareRoot() }
            for j in 0..<layout.size {
                let i = base + j * layout.inner
                y[i] = T(norm == 0 ? 0 : Double(x[i]) / norm)
            }
        }
    }
}
