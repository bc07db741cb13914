import EmberIR

/// How a scatter combines an update with the element already there.
public enum ScatterReduction: String, Sendable, CaseIterable {
    case none, add, mul, max, min

    init(_ attributes: Attributes) throws {
        let text = try attributes.string("reduction", default: "none")
        guard let r = ScatterReduction(rawValue: text) else {
            throw EmberError(
                .invalidArgument, "[\(attributes.opName)] reduction '\(text)' expected none, add, mul, max or min")
        }
        self = r
    }

    /// `data` with update element `j` written to (or combined into) flat position `targets[j]`,
    /// in order, so later updates win for `none`.
    func scatter(_ data: Tensor, _ updates: Tensor, targets: [Int]) -> Tensor {
        let n = data.count
        if self == .none {
            var map = Array(0..<n)
            for (j, t) in targets.enumerated() { map[t] = n + j }
            let joined = Tensor.concatenatedStorage([data, updates]) ?? data.storage
            return Tensor(shape: [n + updates.count], storage: joined).gathering(map, shape: data.shape)
        }
        if data.dtype.isFloatingPoint {
            var out = data.doubles()
            let u = updates.doubles()
            for (j, t) in targets.enumerated() {
                switch self {
                case .add: out[t] += u[j]
                case .mul: out[t] *= u[j]
                case .max: out[t] = out[t].isNaN || u[j].isNaN ? .nan : Swift.max(out[t], u[j])
                case .min: out[t] = out[t].isNaN || u[j].isNaN ? .nan : Swift.min(out[t], u[j])
                case .none: out[t] = u[j]
                }
            }
            return Tensor(data.dtype, shape: data.shape, doubles: out)
        }
        // Unsigned 64-bit values compare correctly with the sign bit flipped.
        let flip: Int64 = data.dtype == .u64 ? Int64.min : 0
        var out = data.int64s()
        let u = updates.int64s()
        for (j, t) in targets.enumerated() {
            switch self {
            case .add: out[t] = out[t] &+ u[j]
            case .mul: out[t] = out[t] &* u[j]
            case .max: out[t] = Swift.max(out[t] ^ flip, u[j] ^ flip) ^ flip
            case .min: out[t] = Swift.min(out[t] ^ flip, u[j] ^ flip) ^ flip
            case .none: out[t] = u[j]
            }
        }
        return Tensor(data.dtype, shape: data.shape, int64s: out)
    }
}

/// A copy of `data` with slices replaced by (or combined with) `updates` at the index tuples in
/// `indices`; the last dim of `indices` says how many leading data dims each tuple addresses.
///
///     scatter_nd(f32[4,5], i64[2,1], f32[2,5]) -> f32[4,5]
public struct ScatterND: Operator {
    public static let name = "scatter_nd"
    public static let inputArity: ClosedRange<Int> = 3...3

    public var reduction: ScatterReduction

    public init(reduction: ScatterReduction = .none) { self.reduction = reduction }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["reduction"])
        reduction = try ScatterReduction(attributes)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("reduction", .string(reduction.rawValue))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (data, indices, updates) = (try inputs.type(0), try inputs.type(1), try inputs.type(2))
        try indices.expectDType([.i64], Self.name, input: "indices")
        try Elementwise.expectSameDType(data.dtype, updates.dtype, Self.name)
        if reduction != .none { try data.expectDType(DType.numeric.union([.bool]), Self.name) }
        if let shape = data.shape, let indexShape = indices.shape, let updateShape = updates.shape,
            let m = indexShape.last?.value
        {
            guard m >= 1, m <= shape.count else {
                throw EmberError(.shapeMismatch, "[\(Self.name)] index tuples have \(m) entries, expected 1 to \(shape.count)")
            }
            let expected = Array(indexShape.dropLast()) + Array(shape[m...])
            guard expected.count == updateShape.count else {
                throw EmberError(
                    .shapeMismatch, "[\(Self.name)] updates have rank \(updateShape.count), expected \(expected.count)")
            }
            for (e, u) in zip(expected, updateShape) { _ = try Dim.merged(e, u, Self.name) }
        }
        return [TensorType(data.dtype, data.shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let data = try inputs.required(0, Self.name)
        let indexTensor = try inputs.required(1, Self.name)
        let updates = try inputs.required(2, Self.name)
        try Elementwise.expectSameDType(data.dtype, updates.dtype, Self.name)
        guard let m = indexTensor.shape.last, m >= 1, m <= data.rank else {
            throw EmberError(
                .shapeMismatch, "[\(Self.name)] indices shape \(indexTensor.shape) does not fit data rank \(data.rank)")
        }
        let expected = Array(indexTensor.shape.dropLast()) + Array(data.shape[m...])
        guard updates.shape == expected else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] updates have shape \(updates.shape), expected \(expected)")
        }
        let values = try indexTensor.indexValues(Self.name, input: "indices")
        let strides = Tensor.strides(of: data.shape)
        let inner = data.shape[m...].reduce(1, *)
        let tuples = indexTensor.count / m
        var targets: [Int] = []
        targets.reserveCapacity(updates.count)
        for t in 0..<tuples {
            var offset = 0
            for j in 0..<m {
                offset += try DataMovementChecks.index(values[t * m + j], size: data.shape[j], Self.name) * strides[j]
            }
            targets.append(contentsOf: offset..<(offset + inner))
        }
        return [reduction.scatter(data, updates, targets: targets)]
    }
}

/// A copy of `data` where `updates[i][j][k]` goes to `data[i][indices[i][j][k]][k]` for `axis` 1
/// (and likewise for any axis), replaced or combined by `reduction`.
public struct ScatterElements: Operator {
    public static let name = "scatter_elements"
    public static let inputArity: ClosedRange<Int> = 3...3

    public var axis: Int
    public var reduction: ScatterReduction

    public init(axis: Int = 0, reduction: ScatterReduction = .none) {
        self.axis = axis
        self.reduction = reduction
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis", "reduction"])
        axis = try attributes.int("axis", default: 0)
        reduction = try ScatterReduction(attributes)
    }
    public var attributes: Attributes {
        Attributes(op: Self.name, [("axis", .int(axis)), ("reduction", .string(reduction.rawValue))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (data, indices, updates) = (try inputs.type(0), try inputs.type(1), try inputs.type(2))
        try indices.expectDType([.i64, .i32], Self.name, input: "indices")
        try Elementwise.expectSameDType(data.dtype, updates.dtype, Self.name)
        if let r = data.rank {
            for t in [indices, updates] { try t.expectRank(r, Self.name, input: "indices and updates") }
            let a = try Axes.normalize(axis, rank: r, op: Self.name)
            guard a < r else {
                throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(r)")
            }
        }
        if let p = indices.shape, let q = updates.shape, p.count == q.count {
            for (x, y) in zip(p, q) { _ = try Dim.merged(x, y, Self.name) }
        }
        return [TensorType(data.dtype, data.shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let data = try inputs.required(0, Self.name)
        let indexTensor = try inputs.required(1, Self.name)
        let updates = try inputs.required(2, Self.name)
        try Elementwise.expectSameDType(data.dtype, updates.dtype, Self.name)
        let r = data.rank
        guard r > 0, indexTensor.rank == r, updates.shape == indexTensor.shape else {
            throw EmberError(
                .shapeMismatch,
                "[\(Self.name)] indices \(indexTensor.shape) and updates \(updates.shape) expected one shape of the data's rank \(r)")
        }
        let a = try Axes.normalize(axis, rank: r, op: Self.name)
        guard a < r else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(r)")
        }
        for k in 0..<r where k != a && indexTensor.shape[k] > data.shape[k] {
            throw EmberError(
                .shapeMismatch, "[\(Self.name)] indices shape \(indexTensor.shape) exceeds data shape \(data.shape) on axis \(k)")
        }
        let strides = Tensor.strides(of: data.shape)
        let tables = (0..<r).map { k in
            k == a
                ? [Int](repeating: 0, count: indexTensor.shape[k])
                : IndexMaps.strided(start: 0, step: 1, count: indexTensor.shape[k], stride: strides[k])
        }
        var targets = IndexMaps.sums(tables)
        let picks = try indexTensor.indexValues(Self.name, input: "indices")
        for i in 0..<targets.count {
            targets[i] += try DataMovementChecks.index(picks[i], size: data.shape[a], Self.name) * strides[a]
        }
        return [reduction.scatter(data, updates, targets: targets)]
    }
}
