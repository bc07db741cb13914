import EmberIR
import EmberOps

/// The elements of a small integer tensor as symbolic ints: what shape computations
/// (`shape -> gather -> unsqueeze -> concat`) hold. A nil element is not known.
///
///     shape(f32[batch,128,768])  // [batch, 128, 768]
struct ShapeValue: Sendable, CustomStringConvertible {
    var dtype: DType
    var shape: [Int]
    var elements: [SymbolicInt?]

    /// Larger tensors are data, not shapes, and are not tracked.
    static let maxCount = 64
    /// The dtypes shape computations use; bools are 0 and 1.
    static let dtypes: Set<DType> = [.i64, .i32, .bool]

    init?(dtype: DType, shape: [Int], elements: [SymbolicInt?]) {
        guard Self.dtypes.contains(dtype), shape.count <= 1, elements.count <= Self.maxCount,
            Tensor.elementCount(shape) == elements.count
        else { return nil }
        self.dtype = dtype
        self.shape = shape
        self.elements = elements
    }

    init?(_ tensor: Tensor) {
        guard tensor.count <= Self.maxCount, Self.dtypes.contains(tensor.dtype) else { return nil }
        self.init(dtype: tensor.dtype, shape: tensor.shape, elements: tensor.ints().map { SymbolicInt($0) })
    }

    /// The tensor, when every element is known.
    var tensor: Tensor? {
        var ints: [Int64] = []
        for e in elements {
            guard let v = e?.known else { return nil }
            ints.append(Int64(v))
        }
        return Tensor(dtype, shape: shape, int64s: ints)
    }

    var description: String { "\(dtype)\(shape) [\(elements.map { $0?.description ?? "?" }.joined(separator: ", "))]" }
}

/// Types refined and shape computations evaluated symbolically, in one walk over the graph.
///
/// Each node's output types are inferred again from its inputs' refined types, with every value
/// that is known (a constant, or a shape computation whose elements are all known) passed as a
/// constant. Ops whose output shape comes from an integer operand (`reshape`, `expand`,
/// `constant_of_shape`, `range`, `tile`) also read that operand symbolically, so a target
/// computed as `[batch, sequence, 12, 64]` gives that type.
struct ShapeAnalysis {
    /// The refined type of each value.
    var types: [TensorType]
    /// What is known of each small integer value.
    var values: [ShapeValue?]

    init(_ graph: Graph) {
        let count = graph.values.count
        types = (0..<count).map { graph.type(of: ValueID($0)) }
        values = [ShapeValue?](repeating: nil, count: count)
        for id in graph.inputs { types[id.index] = Self.naming(types[id.index], id) }
        for id in graph.constantIDs {
            if let t = graph.constants[id] { values[id.index] = ShapeValue(t) }
        }
        for node in graph.nodes {
            let inputTypes = node.inputs.map { $0.map { types[$0.index] } }
            let known = node.inputs.map { $0.flatMap { graph.constants[$0] ?? values[$0.index]?.tensor } }
            let symbolic = node.inputs.map { $0.flatMap { values[$0.index] } }
            var inferred = try? node.op.inferTypes(
                OpInputs(node.op.name, types: inputTypes, constants: known), outputCount: node.outputs.count)
            if let fromOperands = Self.shapeOperandTypes(node.op, inputTypes, symbolic) {
                inferred = inferred.map { zip($0, fromOperands).map { Self.merge($0, $1) } } ?? fromOperands
            }
            for (k, id) in node.outputs.enumerated() {
                if let inferred, k < inferred.count { types[id.index] = Self.refine(types[id.index], with: inferred[k]) }
                types[id.index] = Self.naming(types[id.index], id)
            }
            let outputTypes = node.outputs.map { types[$0.index] }
            let results = Self.evaluate(node.op, inputTypes, symbolic, known, outputTypes)
            for (k, id) in node.outputs.enumerated() where k < results.count {
                // A value whose type disagrees with what was computed is left untracked.
                if let v = results[k], let shape = outputTypes[k].knownShape, shape == v.shape, v.dtype == outputTypes[k].dtype {
                    values[id.index] = v
                }
            }
        }
    }

    // MARK: - Types

    /// Unknown dims get a symbol of their own while the analysis runs, so that two dims known to be
    /// equal (through elementwise ops, matmuls, transposes) are seen to be; `published` turns them
    /// back into unknown dims.
    static func naming(_ type: TensorType, _ id: ValueID) -> TensorType {
        guard let shape = type.shape, shape.contains(.unknown) else { return type }
        return TensorType(type.dtype, shape.enumerated().map { $1 == .unknown ? .symbol("\(internalPrefix)\(id.index).\($0)") : $1 })
    }

    /// Marks the symbols the analysis makes up; no model's dim names start so.
    static let internalPrefix = "\u{1}"

    /// The type as the graph may declare it: made-up symbols are unknown dims again.
    static func published(_ type: TensorType) -> TensorType {
        guard let shape = type.shape else { return type }
        return TensorType(type.dtype, shape.map { if case .symbol(let s) = $0, s.hasPrefix(internalPrefix) { .unknown } else { $0 } })
    }

    /// The refined type of `id`, as the graph may declare it.
    func publishedType(_ id: ValueID) -> TensorType { Self.published(types[id.index]) }

    /// `declared` with its unknown parts filled in from `inferred`; known and symbolic dims are
    /// never changed, and a type that disagrees in dtype or rank is left as declared.
    static func refine(_ declared: TensorType, with inferred: TensorType) -> TensorType {
        guard declared.dtype == inferred.dtype, let new = inferred.shape else { return declared }
        guard let old = declared.shape else { return inferred }
        guard old.count == new.count else { return declared }
        return TensorType(declared.dtype, zip(old, new).map { $0 == .unknown ? $1 : $0 })
    }

    /// Two inferences of one output combined: each dim from the first that knows it.
    static func merge(_ a: TensorType, _ b: TensorType) -> TensorType {
        guard a.dtype == b.dtype, let sa = a.shape, let sb = b.shape, sa.count == sb.count else {
            return a.shape == nil && a.dtype == b.dtype ? b : a
        }
        return TensorType(a.dtype, zip(sa, sb).map { $0 == .unknown ? $1 : $0 })
    }

    /// Output types of ops whose shape is an integer operand, read symbolically.
    static func shapeOperandTypes(_ op: any Operator, _ types: [TensorType?], _ values: [ShapeValue?]) -> [TensorType]? {
        func operand(_ i: Int) -> ShapeValue? { i < values.count ? values[i] : nil }
        guard let x = types.first ?? nil else { return nil }
        switch op {
        case let reshape as Reshape:
            guard let target = operand(1) else { return nil }
            return [TensorType(x.dtype, reshapeDims(x.shape, target.elements, allowZero: reshape.allowZero))]
        case is Expand:
            guard let target = operand(1), target.shape.count == 1 else { return nil }
            let dims = target.elements.map { $0?.dim ?? .unknown }
            guard let shape = try? Broadcast.dims(x.shape, dims, op: op.name) else { return nil }
            return [TensorType(x.dtype, shape)]
        case let fill as ConstantOfShape:
            guard let target = operand(0), target.shape.count == 1 else { return nil }
            return [TensorType(fill.value.dtype, target.elements.map { $0?.dim ?? .unknown })]
        case is RangeOp:
            guard let start = operand(0)?.elements.first ?? nil, let limit = operand(1)?.elements.first ?? nil,
                operand(2)?.elements.first??.known == 1, let n = limit - start, n.coefficient >= 0
            else { return nil }
            return [TensorType(x.dtype, [n.dim])]
        case is Tile:
            guard let shape = x.shape, let repeats = operand(1), repeats.elements.count == shape.count else { return nil }
            return [TensorType(x.dtype, zip(shape, repeats.elements).map { d, r in
                guard let s = SymbolicInt(d), let r, let p = s * r else { return .unknown }
                return p.dim
            })]
        default:
            return nil
        }
    }

    /// A reshape's output dims for a symbolic target: `0` copies the input dim (unless
    /// `allowZero`), `-1` is what is left of the element count, exact or unknown.
    static func reshapeDims(_ input: [Dim]?, _ target: [SymbolicInt?], allowZero: Bool) -> [Dim] {
        var sizes: [SymbolicInt?] = []
        var inferred: Int? = nil
        for (i, e) in target.enumerated() {
            if e?.known == -1, inferred == nil {
                inferred = i
                sizes.append(nil)
            } else if e?.known == 0, !allowZero {
                sizes.append(input.flatMap { i < $0.count ? SymbolicInt($0[i]) : nil })
            } else {
                sizes.append(e)
            }
        }
        var dims = sizes.map { $0?.dim ?? .unknown }
        if let inferred, let input, let total = SymbolicInt.product(input) {
            var rest = SymbolicInt(1)
            for (i, s) in sizes.enumerated() where i != inferred {
                guard let s, let p = rest * s else { return dims }
                rest = p
            }
            if rest.known != 0, let q = total / rest { dims[inferred] = q.dim }
        }
        return dims
    }

    // MARK: - Values

    /// The outputs of `op` as shape values, where the inputs say enough.
    static func evaluate(
        _ op: any Operator, _ types: [TensorType?], _ values: [ShapeValue?], _ known: [Tensor?], _ outputs: [TensorType]
    ) -> [ShapeValue?] {
        func value(_ i: Int) -> ShapeValue? { i < values.count ? values[i] : nil }
        switch op {
        case let shape as Shape:
            guard let dims = types.first??.shape else { return [] }
            let picked = Array(dims[shape.range(rank: dims.count)])
            return [ShapeValue(dtype: .i64, shape: [picked.count], elements: picked.map { SymbolicInt($0) })]
        case is Size:
            guard let dims = types.first??.shape else { return [] }
            return [ShapeValue(dtype: .i64, shape: [], elements: [SymbolicInt.product(dims)])]
        case let constant as Constant:
            return [ShapeValue(constant.value)]
        case let fill as ConstantOfShape:
            guard let shape = outputs.first?.knownShape, let n = Tensor.elementCount(shape), n <= ShapeValue.maxCount,
                let v = ShapeValue(fill.value)?.elements.first
            else { return [] }
            return [ShapeValue(dtype: fill.value.dtype, shape: shape, elements: [SymbolicInt?](repeating: v, count: n))]
        case is Add, is Sub, is Mul, is Div, is Max, is Min:
            guard values.count == 2 else { return [] }
            return [elementwise(value(0), value(1)) { a, b in
                switch op {
                case is Add: a + b
                case is Sub: a - b
                case is Mul: a * b
                case is Div: a / b
                case is Max: SymbolicInt.compare(a, b).map { $0 >= 0 ? a : b }
                default: SymbolicInt.compare(a, b).map { $0 <= 0 ? a : b }
                }
            }]
        case is Equal, is Less, is LessOrEqual, is Greater, is GreaterOrEqual:
            let result = elementwise(value(0), value(1)) { a, b -> SymbolicInt? in
                guard let c = SymbolicInt.compare(a, b) else { return nil }
                let holds: Bool =
                    switch op {
                    case is Equal: c == 0
                    case is Less: c < 0
                    case is LessOrEqual: c <= 0
                    case is Greater: c > 0
                    default: c >= 0
                    }
                return SymbolicInt(holds ? 1 : 0)
            }
            return [result.flatMap { ShapeValue(dtype: .bool, shape: $0.shape, elements: $0.elements) }]
        case is Neg:
            guard let x = value(0) else { return [] }
            return [ShapeValue(dtype: x.dtype, shape: x.shape, elements: x.elements.map { $0.flatMap { -$0 } })]
        case is Not:
            guard let x = value(0) else { return [] }
            return [ShapeValue(dtype: x.dtype, shape: x.shape, elements: x.elements.map { $0?.known.map { SymbolicInt($0 == 0 ? 1 : 0) } })]
        case let cast as Cast:
            guard let x = value(0) else { return [] }
            switch cast.to {
            case .i64, .i32:
                return [ShapeValue(dtype: cast.to, shape: x.shape, elements: x.elements)]
            case .bool:
                return [ShapeValue(dtype: .bool, shape: x.shape, elements: x.elements.map { $0?.known.map { SymbolicInt($0 == 0 ? 0 : 1) } })]
            default:
                return []
            }
        case is Where:
            guard let c = value(0), let a = value(1), let b = value(2), a.dtype == b.dtype,
                let shape = try? Broadcast.shape([c.shape, a.shape, b.shape], op: op.name)
            else { return [] }
            let (ic, ia, ib) = (
                Broadcast.indices(from: c.shape, to: shape), Broadcast.indices(from: a.shape, to: shape),
                Broadcast.indices(from: b.shape, to: shape)
            )
            let elements = (0..<ic.count).map { i -> SymbolicInt? in
                guard let cond = c.elements[ic[i]]?.known else { return nil }
                return cond != 0 ? a.elements[ia[i]] : b.elements[ib[i]]
            }
            return [ShapeValue(dtype: a.dtype, shape: shape, elements: elements)]
        default:
            return rearranged(op, types, values, known, outputCount: outputs.count)
        }
    }

    /// `f` over two shape values with broadcasting.
    static func elementwise(_ a: ShapeValue?, _ b: ShapeValue?, _ f: (SymbolicInt, SymbolicInt) -> SymbolicInt?) -> ShapeValue? {
        guard let a, let b, a.dtype == b.dtype, let shape = try? Broadcast.shape(a.shape, b.shape, op: "elementwise") else {
            return nil
        }
        let (ia, ib) = (Broadcast.indices(from: a.shape, to: shape), Broadcast.indices(from: b.shape, to: shape))
        let elements = zip(ia, ib).map { i, j -> SymbolicInt? in
            guard let x = a.elements[i], let y = b.elements[j] else { return nil }
            return f(x, y)
        }
        return ShapeValue(dtype: a.dtype, shape: shape, elements: elements)
    }

    /// Which inputs of a data movement op carry the data it rearranges; the others must be constants.
    static func dataInputs(_ op: any Operator, count: Int) -> [Int]? {
        switch op {
        case is Concat: Array(0..<count)
        case is Gather, is SliceOp, is Reshape, is Squeeze, is Unsqueeze, is Transpose, is Expand, is Identity,
            is Flatten, is Tile, is GatherElements, is Split:
            [0]
        default: nil
        }
    }

    /// A data movement op applied to symbolic elements: the op's own evaluation runs on a tensor of
    /// element positions, and the positions it returns pick the elements.
    static func rearranged(
        _ op: any Operator, _ types: [TensorType?], _ values: [ShapeValue?], _ known: [Tensor?], outputCount: Int
    ) -> [ShapeValue?] {
        guard let data = dataInputs(op, count: values.count), !data.isEmpty else { return [] }
        var args = known
        var pool: [SymbolicInt?] = []
        var dtype: DType? = nil
        for i in data {
            guard let v = values[i], dtype == nil || dtype == v.dtype else { return [] }
            dtype = v.dtype
            let positions = (pool.count..<(pool.count + v.elements.count)).map(Int64.init)
            args[i] = Tensor(shape: v.shape, int64s: positions)
            pool += v.elements
        }
        for i in args.indices where args[i] == nil && types[i] != nil && !data.contains(i) {
            return []  // an operand (axes, indices, a target shape) that is not known
        }
        guard let dtype, let results = try? op.evaluate(args, outputCount: outputCount) else { return [] }
        return results.map { result -> ShapeValue? in
            guard result.dtype == .i64, result.count <= ShapeValue.maxCount else { return nil }
            var elements: [SymbolicInt?] = []
            for p in result.ints() {
                guard p >= 0, p < pool.count else { return nil }
                elements.append(pool[p])
            }
            return ShapeValue(dtype: dtype, shape: result.shape, elements: elements)
        }
    }
}
