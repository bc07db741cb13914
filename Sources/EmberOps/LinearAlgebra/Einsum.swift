import EmberIR

/// Einstein summation over any number of operands (ONNX `Einsum`): `"bhqd,bhkd->bhqk"`.
///
/// Letters name axes; a letter repeated within one operand takes its diagonal; letters absent
/// from the output are summed; `...` stands for broadcast leading axes. Without `->`, the output
/// is `...` followed by the letters that appear once, in alphabetical order. Operands are
/// contracted two at a time as batched matrix products, so transformer forms run on the fast
/// f32 kernel.
public struct Einsum: Operator {
    public static let name = "einsum"
    public static let inputArity: ClosedRange<Int> = 1...64

    public var equation: String

    public init(equation: String) { self.equation = equation }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["equation"])
        guard let equation = try attributes.string("equation") else {
            throw EmberError.op(Self.name, "attribute 'equation' is required")
        }
        self.equation = equation
    }

    public var attributes: Attributes { Attributes(op: Self.name, [("equation", .string(equation))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let parsed = try EinsumEquation(equation, operands: inputs.count)
        let types = try (0..<inputs.count).map { try inputs.type($0) }
        let dtype = types[0].dtype
        for t in types { try Elementwise.expectSameDType(dtype, t.dtype, Self.name) }
        try types[0].expectDType(DType.numeric, Self.name)
        var sizes: [Character: Dim] = [:]
        var ellipsis: [Dim]? = []
        for (term, type) in zip(parsed.inputs, types) {
            guard let shape = type.shape else {
                if term.hasEllipsis { ellipsis = nil }
                continue
            }
            let axes = try term.labels(rank: shape.count, op: Self.name)
            var own: [Dim] = []
            for (label, dim) in zip(axes, shape) {
                guard case .letter(let c) = label else {
                    own.append(dim)
                    continue
                }
                if let known = sizes[c] {
                    if let x = known.value, let y = dim.value, x != y {
                        throw EmberError(.shapeMismatch, "[\(Self.name)] label '\(c)' has sizes \(x) and \(y)")
                    }
                    if known.value == nil, dim.value != nil { sizes[c] = dim }
                } else {
                    sizes[c] = dim
                }
            }
            if ellipsis != nil, term.hasEllipsis { ellipsis = try Broadcast.dims(ellipsis, own, op: Self.name) }
        }
        var out: [Dim] = []
        for label in parsed.output.labels {
            switch label {
            case .letter(let c): out.append(sizes[c] ?? .unknown)
            case .ellipsis:
                guard let ellipsis else { return [TensorType(dtype, nil)] }
                out += ellipsis
            }
        }
        return [TensorType(dtype, out)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let parsed = try EinsumEquation(equation, operands: inputs.count)
        let tensors = try (0..<inputs.count).map { try inputs.required($0, Self.name) }
        let dtype = tensors[0].dtype
        for t in tensors { try Elementwise.expectSameDType(dtype, t.dtype, Self.name) }
        try tensors[0].expectDType(DType.numeric, Self.name)
        // f16 and bf16 compute in f64 and round once; integers in i64.
        let work: DType = dtype == .f32 ? .f32 : (dtype.isFloatingPoint ? .f64 : .i64)

        // Labels as integers: letters by their code, ellipsis axes numbered from the right.
        let ellipsisRank = try zip(parsed.inputs, tensors).map { term, t in
            try term.labels(rank: t.rank, op: Self.name).filter { $0 == .ellipsis }.count
        }.max() ?? 0
        func ids(_ term: EinsumEquation.Term, rank: Int) throws -> [Int] {
            let labels = try term.labels(rank: rank, op: Self.name)
            let own = labels.filter { $0 == .ellipsis }.count
            var e = ellipsisRank - own
            return labels.map { label in
                switch label {
                case .letter(let c): return Int(c.asciiValue ?? 0)
                case .ellipsis:
                    defer { e += 1 }
                    return 1000 + e
                }
            }
        }
        var operands = try zip(parsed.inputs, tensors).map { term, t in
            LabeledTensor(tensor: t.cast(to: work), labels: try ids(term, rank: t.rank))
        }
        let outputLetters = parsed.output.labels.filter { $0 != .ellipsis }.count
        let output = try ids(parsed.output, rank: outputLetters + (parsed.output.hasEllipsis ? ellipsisRank : 0))

        // Every label's size; ellipsis axes broadcast, letters must agree.
        var sizes: [Int: Int] = [:]
        for op in operands {
            for (label, size) in zip(op.labels, op.tensor.shape) {
                guard let known = sizes[label], known != size else {
                    sizes[label] = size
                    continue
                }
                if label >= 1000, known == 1 || size == 1 {
                    sizes[label] = max(known, size)
                } else {
                    throw EmberError(.shapeMismatch, "[\(Self.name)] an axis labelled in '\(equation)' has sizes \(known) and \(size)")
                }
            }
        }
        for label in output where sizes[label] == nil {
            throw EmberError.op(Self.name, "output label in '\(equation)' does not appear in any input")
        }

        for i in operands.indices {
            operands[i] = operands[i].diagonal()
            let elsewhere = Set(output + operands.indices.filter { $0 != i }.flatMap { operands[$0].labels })
            operands[i] = operands[i].summing(keep: elsewhere)
        }
        var result = operands[0]
        for i in 1..<max(operands.count, 1) {
            let later = Set(output + operands.dropFirst(i + 1).flatMap(\.labels))
            result = LabeledTensor.contract(result, operands[i], keep: later, sizes: sizes)
        }
        result = result.summing(keep: Set(output))
        result = result.broadcast(to: output, sizes: sizes)
        return [result.tensor.cast(to: dtype)]
    }
}

/// A parsed einsum equation.
struct EinsumEquation {
    enum Label: Equatable { case letter(Character), ellipsis }

    struct Term {
        var labels: [Label]
        var hasEllipsis: Bool { labels.contains(.ellipsis) }

        /// One label per axis of an operand of `rank`, the ellipsis expanded to the axes it covers.
        func labels(rank: Int, op: String) throws -> [Label] {
            let letters = labels.filter { $0 != .ellipsis }.count
            if hasEllipsis {
                guard rank >= letters else {
                    throw EmberError(.shapeMismatch, "[\(op)] operand of rank \(rank) has \(letters) labels besides '...'")
                }
                return labels.flatMap { $0 == .ellipsis ? Array(repeating: .ellipsis, count: rank - letters) : [$0] }
            }
            guard rank == letters else {
                throw EmberError(.shapeMismatch, "[\(op)] operand of rank \(rank) has \(letters) labels")
            }
            return labels
        }
    }

    var inputs: [Term]
    var output: Term

    init(_ equation: String, operands: Int) throws {
        let text = equation.filter { !$0.isWhitespace }
        let sides = text.components(separatedBy: "->")
        guard sides.count <= 2 else { throw EmberError.op("einsum", "equation '\(equation)' has more than one '->'") }
        inputs = try sides[0].split(separator: ",", omittingEmptySubsequences: false).map { try Self.term(String($0), equation) }
        guard inputs.count == operands else {
            throw EmberError.op("einsum", "equation '\(equation)' has \(inputs.count) operands, received \(operands) inputs")
        }
        if sides.count == 2 {
            output = try Self.term(sides[1], equation)
            var seen = Set<Character>()
            for case .letter(let c) in output.labels {
                guard seen.insert(c).inserted else {
                    throw EmberError.op("einsum", "output of '\(equation)' repeats label '\(c)'")
                }
            }
            if output.hasEllipsis, !inputs.contains(where: \.hasEllipsis) {
                throw EmberError.op("einsum", "output of '\(equation)' has '...' that no input has")
            }
        } else {
            var counts: [Character: Int] = [:]
            for term in inputs { for case .letter(let c) in term.labels { counts[c, default: 0] += 1 } }
            let once = counts.filter { $0.value == 1 }.keys.sorted()
            output = Term(labels: (inputs.contains(where: \.hasEllipsis) ? [.ellipsis] : []) + once.map { .letter($0) })
        }
    }

    private static func term(_ text: String, _ equation: String) throws -> Term {
        var labels: [Label] = []
        var rest = Substring(text)
        while let c = rest.first {
            if rest.hasPrefix("...") {
                guard !labels.contains(.ellipsis) else {
                    throw EmberError.op("einsum", "equation '\(equation)' has '...' twice in one term")
                }
                labels.append(.ellipsis)
                rest = rest.dropFirst(3)
            } else if c.isASCII, c.isLetter {
                labels.append(.letter(c))
                rest = rest.dropFirst()
            } else {
                throw EmberError.op("einsum", "equation '\(equation)' has invalid character '\(c)'")
            }
        }
        return Term(labels: labels)
    }
}

/// A tensor whose axes are named by einsum labels.
struct LabeledTensor {
    var tensor: Tensor
    var labels: [Int]

    /// The same data with axes reordered to `order` (a permutation of `labels`).
    func permuted(_ order: [Int]) -> LabeledTensor {
        if order == labels { return self }
        let perm = order.map { label in labels.firstIndex(of: label) ?? 0 }
        let shape = perm.map { tensor.shape[$0] }
        let strides = Tensor.strides(of: tensor.shape)
        let indices = Self.walk(shape: shape, strides: perm.map { strides[$0] })
        return LabeledTensor(tensor: tensor.gathering(indices, shape: shape), labels: order)
    }

    /// Flat indices of a strided walk over `shape`, row-major.
    static func walk(shape: [Int], strides: [Int]) -> [Int] {
        let count = shape.reduce(1, *)
        var out = [Int](repeating: 0, count: count)
        guard count > 0 else { return out }
        var index = [Int](repeating: 0, count: shape.count)
        var offset = 0
        for i in 0..<count {
            out[i] = offset
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < shape[axis] { break }
                offset -= strides[axis] * index[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return out
    }

    /// Repeated labels reduced to one axis each, taking the diagonal.
    func diagonal() -> LabeledTensor {
        var unique: [Int] = []
        for l in labels where !unique.contains(l) { unique.append(l) }
        if unique.count == labels.count { return self }
        let strides = Tensor.strides(of: tensor.shape)
        var shape: [Int] = []
        var walkStrides: [Int] = []
        for l in unique {
            let axes = labels.indices.filter { labels[$0] == l }
            shape.append(axes.map { tensor.shape[$0] }.min() ?? 0)
            walkStrides.append(axes.map { strides[$0] }.reduce(0, +))
        }
        let indices = Self.walk(shape: shape, strides: walkStrides)
        return LabeledTensor(tensor: tensor.gathering(indices, shape: shape), labels: unique)
    }

    /// Sums over every label not in `keep`.
    func summing(keep: Set<Int>) -> LabeledTensor {
        let kept = labels.filter { keep.contains($0) }
        if kept.count == labels.count { return self }
        let summed = labels.filter { !keep.contains($0) }
        let moved = permuted(kept + summed)
        let outer = kept.count
        let shape = Array(moved.tensor.shape.prefix(outer))
        let rows = shape.reduce(1, *)
        let inner = moved.tensor.shape.dropFirst(outer).reduce(1, *)
        let t = moved.tensor
        let storage: TensorStorage
        switch t.storage {
        case .f32(let v):
            storage = .f32((0..<rows).map { r in
                var s: Float = 0
                for j in 0..<inner { s += v[r * inner + j] }
                return s
            })
        case .f64(let v):
            storage = .f64((0..<rows).map { r in
                var s = 0.0
                for j in 0..<inner { s += v[r * inner + j] }
                return s
            })
        default:
            let v = t.int64s()
            storage = .fromInt64s((0..<rows).map { r in
                var s: Int64 = 0
                for j in 0..<inner { s &+= v[r * inner + j] }
                return s
            }, as: t.dtype)
        }
        return LabeledTensor(tensor: Tensor(shape: shape, storage: storage), labels: kept)
    }

    /// Axes given the sizes in `sizes` (size-1 ellipsis axes broadcast) and missing labels added.
    func broadcast(to order: [Int], sizes: [Int: Int]) -> LabeledTensor {
        let present = order.filter { labels.contains($0) }
        let moved = permuted(present)
        let shape = order.map { sizes[$0] ?? 1 }
        let source = order.map { label in
            moved.labels.firstIndex(of: label).map { moved.tensor.shape[$0] } ?? 1
        }
        if source == shape { return LabeledTensor(tensor: moved.tensor.reshaped(shape), labels: order) }
        let indices = Broadcast.indices(from: source, to: shape)
        return LabeledTensor(tensor: moved.tensor.reshaped(source).gathering(indices, shape: shape), labels: order)
    }

    /// The product of two operands summed over the labels they share that are not in `keep`,
    /// as one batched matrix product: `[batch, m, k] x [batch, k, n]`.
    static func contract(_ x: LabeledTensor, _ y: LabeledTensor, keep: Set<Int>, sizes: [Int: Int]) -> LabeledTensor {
        let shared = x.labels.filter { y.labels.contains($0) }
        let batch = shared.filter { keep.contains($0) }
        let inner = shared.filter { !keep.contains($0) }
        let rows = x.labels.filter { !shared.contains($0) }
        let cols = y.labels.filter { !shared.contains($0) }
        let a = x.broadcast(to: batch + rows + inner, sizes: sizes)
        let b = y.broadcast(to: batch + inner + cols, sizes: sizes)
        let size = { (labels: [Int]) in labels.reduce(1) { $0 * (sizes[$1] ?? 1) } }
        let (nb, m, k, n) = (size(batch), size(rows), size(inner), size(cols))
        let storage = MatrixProduct.multiply(
            MatrixOperand(tensor: a.tensor, offsets: (0..<nb).map { $0 * m * k }, rowStride: k, colStride: 1),
            MatrixOperand(tensor: b.tensor, offsets: (0..<nb).map { $0 * k * n }, rowStride: n, colStride: 1),
            m: m, n: n, k: k)
        let labels = batch + rows + cols
        return LabeledTensor(tensor: Tensor(shape: labels.map { sizes[$0] ?? 1 }, storage: storage), labels: labels)
    }
}
