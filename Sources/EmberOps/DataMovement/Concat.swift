import EmberIR

/// Joins tensors of one dtype along `axis`; the other dims must agree.
///
///     concat(f32[batch,3], f32[batch,5], axis: 1) -> f32[batch,8]
public struct Concat: Operator {
    public static let name = "concat"
    public static let inputArity: ClosedRange<Int> = 1...Int.max
    public static var traits: OpTraits { .dataMovement }

    public var axis: Int

    public init(axis: Int) { self.axis = axis }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        guard let axis = try attributes.int("axis") else {
            throw EmberError(.invalidArgument, "[\(Self.name)] attribute 'axis' is required")
        }
        self.axis = axis
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        var types: [TensorType] = []
        for i in 0..<inputs.count { types.append(try inputs.type(i)) }
        guard let first = types.first else {
            throw EmberError(.invalidIR, "[\(Self.name)] expected at least one input, received none")
        }
        for t in types {
            try Elementwise.expectSameDType(first.dtype, t.dtype, Self.name)
        }
        let shapes = types.compactMap(\.shape)
        guard let rank = shapes.first?.count else { return [TensorType(first.dtype, nil)] }
        for s in shapes where s.count != rank {
            throw EmberError(.shapeMismatch, "[\(Self.name)] inputs have ranks \(rank) and \(s.count), expected one rank")
        }
        let a = try Axes.normalize(axis, rank: rank, op: Self.name)
        guard a < rank else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(rank)")
        }
        var dims = shapes[0]
        for s in shapes.dropFirst() {
            for k in 0..<rank where k != a { dims[k] = try Dim.merged(dims[k], s[k], Self.name) }
        }
        // The joined dim: a sum of known sizes, or a lone symbol beside inputs that add nothing.
        if shapes.count < types.count {
            dims[a] = .unknown
        } else {
            let nonEmpty = shapes.map { $0[a] }.filter { $0 != .known(0) }
            if nonEmpty.count == 1 {
                dims[a] = nonEmpty[0]
            } else {
                let known = nonEmpty.compactMap(\.value)
                dims[a] = known.count == nonEmpty.count ? .known(known.reduce(0, +)) : .unknown
            }
        }
        return [TensorType(first.dtype, dims)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        var parts: [Tensor] = []
        for i in 0..<inputs.count { parts.append(try inputs.required(i, Self.name)) }
        guard let first = parts.first else {
            throw EmberError(.invalidArgument, "[\(Self.name)] expected at least one input, received none")
        }
        let rank = first.rank
        let a = try Axes.normalize(axis, rank: rank, op: Self.name)
        guard a < rank else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(rank)")
        }
        for p in parts {
            try Elementwise.expectSameDType(first.dtype, p.dtype, Self.name)
            guard p.rank == rank, (0..<rank).allSatisfy({ $0 == a || p.shape[$0] == first.shape[$0] }) else {
                throw EmberError(
                    .shapeMismatch, "[\(Self.name)] input shapes \(first.shape) and \(p.shape) differ off axis \(a)")
            }
        }
        var shape = first.shape
        shape[a] = parts.reduce(0) { $0 + $1.shape[a] }
        guard let joined = Tensor.concatenatedStorage(parts) else {
            throw EmberError(.typeMismatch, "[\(Self.name)] inputs have different dtypes, expected one dtype")
        }
        if parts.count == 1 { return [first] }
        // Each input contributes, for every outer index, one contiguous run of `shape[a] * inner` elements.
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let runs = parts.map { $0.shape[a] * inner }
        var starts: [Int] = []
        var offset = 0
        for p in parts {
            starts.append(offset)
            offset += p.count
        }
        var indices: [Int] = []
        indices.reserveCapacity(outer * shape[a] * inner)
        for o in 0..<outer {
            for (k, run) in runs.enumerated() {
                let base = starts[k] + o * run
                indices.append(contentsOf: base..<(base + run))
            }
        }
        return [Tensor(shape: [offset], storage: joined).gathering(indices, shape: shape)]
    }
}
