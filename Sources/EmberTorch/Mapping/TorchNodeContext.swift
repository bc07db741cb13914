import EmberIR
import EmberOps

/// What a converter sees of one torch node, and how it adds Ember nodes for it.
///
/// Arguments are read by their schema names (`input`, `weight`, `stride`); an argument the node
/// leaves out has its schema default, which the converter gives. Outputs take the torch names and,
/// where Ember's inference leaves a dim open, the torch metadata's dim (so `s0` stays `s0`).
public struct TorchNodeContext {
    /// The ATen op, e.g. `aten.convolution.default`.
    public private(set) var target = ""
    /// The node's name, for error messages.
    public private(set) var nodeName = ""
    var node = TorchSchema.Node(target: "", inputs: [], outputs: [], name: nil)
    let program: TorchProgram
    var builder: GraphBuilder
    var values: [String: TorchValue] = [:]
    /// Values that alias another's memory, by torch name.
    var views: [String: TorchView] = [:]

    init(program: TorchProgram, builder: GraphBuilder) {
        self.program = program
        self.builder = builder
    }

    mutating func begin(_ node: TorchSchema.Node, name: String, target: String) {
        self.node = node
        self.nodeName = name
        self.target = target
    }

    var op: String { TorchOps.opName(target) }

    func fail(_ message: String, _ code: EmberError.Code = .invalidModel) -> EmberError {
        EmberError(code, "[\(op)] \(message)")
    }

    // MARK: Arguments

    func arg(_ name: String) -> TorchSchema.Argument? {
        node.inputs.first { $0.name == name }?.arg
    }

    /// Whether the argument is given and not None.
    func has(_ name: String) -> Bool {
        switch arg(name) {
        case nil, .none?: false
        default: true
        }
    }

    func value(named name: String) throws -> TorchValue {
        guard let v = values[name] else { throw fail("uses '\(name)', which is not defined before this node") }
        return v
    }

    /// A tensor argument, which must be present.
    public func tensor(_ name: String) throws -> ValueID {
        guard let id = try optionalTensor(name) else { throw fail("argument '\(name)' is required") }
        return id
    }

    public func optionalTensor(_ name: String) throws -> ValueID? {
        switch arg(name) {
        case nil, .none?: return nil
        case .tensor(let n)?:
            guard case .tensor(let id) = try value(named: n) else { throw fail("'\(n)' is not a tensor") }
            return id
        case let other?: throw fail("argument '\(name)' expected a tensor, received \(TorchProgram.describe(other))")
        }
    }

    /// A list of tensors (`cat`'s `tensors`).
    public func tensors(_ name: String) throws -> [ValueID] {
        guard case .tensors(let names)? = arg(name) else { throw fail("argument '\(name)' expected a list of tensors") }
        return try names.map { n in
            guard case .tensor(let id) = try value(named: n) else { throw fail("'\(n)' is not a tensor") }
            return id
        }
    }

    /// A list of optional tensors (`index`'s `indices`).
    public func optionalTensors(_ name: String) throws -> [ValueID?] {
        switch arg(name) {
        case .tensors(let names)?:
            return try names.map { n in
                guard case .tensor(let id) = try value(named: n) else { throw fail("'\(n)' is not a tensor") }
                return id
            }
        case .optionalTensors(let items)?:
            return try items.map { item in
                guard case .tensor(let n) = item else { return nil }
                guard case .tensor(let id) = try value(named: n) else { throw fail("'\(n)' is not a tensor") }
                return id
            }
        default: throw fail("argument '\(name)' expected a list of tensors")
        }
    }

    public func int(_ name: String, default value: Int? = nil) throws -> Int {
        switch arg(name) {
        case nil, .none?:
            guard let value else { throw fail("argument '\(name)' is required") }
            return value
        case .int(let v)?: return v
        case .bool(let b)?: return b ? 1 : 0
        case .symInt?:
            guard let v = try symInt(name).known else {
                throw fail("argument '\(name)' is a symbolic size here; Ember needs it known at import", .unsupported)
            }
            return v
        case let other?: throw fail("argument '\(name)' expected an int, received \(TorchProgram.describe(other))")
        }
    }

    public func optionalInt(_ name: String) throws -> Int? {
        has(name) ? try int(name) : nil
    }

    public func ints(_ name: String, default value: [Int]? = nil) throws -> [Int] {
        switch arg(name) {
        case nil, .none?:
            guard let value else { throw fail("argument '\(name)' is required") }
            return value
        case .ints(let v)?: return v
        case .int(let v)?: return [v]
        case .symInts?:
            return try symInts(name).map { s in
                guard let v = s.known else {
                    throw fail("argument '\(name)' has a symbolic size; Ember needs it known at import", .unsupported)
                }
                return v
            }
        case let other?: throw fail("argument '\(name)' expected a list of ints, received \(TorchProgram.describe(other))")
        }
    }

    public func float(_ name: String, default value: Double? = nil) throws -> Double {
        switch arg(name) {
        case nil, .none?:
            guard let value else { throw fail("argument '\(name)' is required") }
            return value
        case .float(let v)?: return v
        case .int(let v)?: return Double(v)
        case .bool(let b)?: return b ? 1 : 0
        case .symFloat(.float(let v))?: return v
        case .symInt?:
            guard let v = try symInt(name).known else { throw fail("argument '\(name)' is symbolic", .unsupported) }
            return Double(v)
        case let other?: throw fail("argument '\(name)' expected a float, received \(TorchProgram.describe(other))")
        }
    }

    public func optionalFloat(_ name: String) throws -> Double? { has(name) ? try float(name) : nil }

    public func bool(_ name: String, default value: Bool) throws -> Bool {
        switch arg(name) {
        case nil, .none?: return value
        case .bool(let b)?: return b
        case .int(let v)?: return v != 0
        case let other?: throw fail("argument '\(name)' expected a bool, received \(TorchProgram.describe(other))")
        }
    }

    public func string(_ name: String, default value: String) throws -> String {
        switch arg(name) {
        case nil, .none?: return value
        case .string(let s)?: return s
        case let other?: throw fail("argument '\(name)' expected a string, received \(TorchProgram.describe(other))")
        }
    }

    /// A `ScalarType` argument (`dtype=torch.float16`), or nil when not given.
    public func dtype(_ name: String) throws -> DType? {
        guard case .scalarType(let code)? = arg(name) else { return nil }
        guard let t = TorchProgram.dtype(code) else {
            throw fail("dtype \(code) (\(TorchProgram.scalarTypeName(code))) is not supported", .unsupported)
        }
        return t
    }

    func symValue(_ a: TorchSchema.SymArgument) throws -> SymValue {
        switch a {
        case .int(let v): return SymValue(dim: .known(v))
        case .name(let n):
            switch try value(named: n) {
            case .symInt(let s): return s
            case .scalar(let v) where v == v.rounded(): return SymValue(dim: .known(Int(v)))
            default: throw fail("'\(n)' is not a symbolic int")
            }
        default: throw fail("expected a symbolic int")
        }
    }

    /// A symbolic int argument.
    func symInt(_ name: String) throws -> SymValue {
        switch arg(name) {
        case .int(let v)?: return SymValue(dim: .known(v))
        case .symInt(let a)?: return try symValue(a)
        default: throw fail("argument '\(name)' expected an int")
        }
    }

    /// A list of symbolic ints (sizes such as `view`'s `size`).
    func symInts(_ name: String) throws -> [SymValue] {
        switch arg(name) {
        case .ints(let v)?: return v.map { SymValue(dim: .known($0)) }
        case .symInts(let items)?: return try items.map(symValue)
        case .int(let v)?: return [SymValue(dim: .known(v))]
        default: throw fail("argument '\(name)' expected a list of sizes")
        }
    }

    /// A number argument: a Python scalar, or a symbolic int or float.
    func number(_ name: String) throws -> Double? {
        switch arg(name) {
        case .int(let v)?: return Double(v)
        case .float(let v)?: return v
        case .bool(let b)?: return b ? 1 : 0
        case .symFloat(.float(let v))?: return v
        case .symInt?: return try symInt(name).known.map(Double.init)
        case .symFloat(.name(let n))?, .symInt(.name(let n))?:
            if case .scalar(let v)? = values[n] { return v }
            return nil
        default: return nil
        }
    }

    // MARK: Types

    public func type(_ id: ValueID) -> TensorType { builder.graph.type(of: id) }
    public func rank(_ id: ValueID) throws -> Int {
        guard let r = type(id).rank else { throw fail("input has unknown rank") }
        return r
    }
    public func constantValue(_ id: ValueID) -> Tensor? { builder.graph.constants[id] }

    /// The torch metadata of output `i`, if it is a tensor.
    func outputType(_ i: Int = 0) -> TensorType? {
        guard i < node.outputs.count, case .tensor(let name) = node.outputs[i] else { return nil }
        return try? program.type(of: name)
    }

    /// The names of the node's tensor outputs; a list output (`split`) gives its members.
    var outputNames: [String?] {
        node.outputs.flatMap { output -> [String?] in
            switch output {
            case .tensor(let n): [n]
            case .tensors(let ns): ns
            default: [nil]
            }
        }
    }

    /// Normalizes a possibly negative axis against `rank`.
    func axis(_ a: Int, rank: Int) throws -> Int {
        guard let r = try? Axes.normalize(a, rank: rank, op: target) else {
            throw fail("dim \(a) is out of range for rank \(rank)", .invalidArgument)
        }
        return r
    }

    // MARK: Emitting

    public func make(_ name: String, _ attributes: [(String, Attribute)] = []) throws -> any Operator {
        try OperatorRegistry.standard.make(name, Attributes(op: name, attributes))
    }

    /// Adds an intermediate node; its outputs get fresh names.
    @discardableResult
    public mutating func emit(_ name: String, _ inputs: [ValueID?], _ attributes: [(String, Attribute)] = [], outputs: Int = 1)
        throws -> [ValueID]
    {
        try builder.add(make(name, attributes), inputs, outputs: outputs, names: nil, nodeName: nodeName)
    }

    /// Adds an intermediate node with one output and returns it.
    public mutating func emit1(_ name: String, _ inputs: [ValueID?], _ attributes: [(String, Attribute)] = []) throws -> ValueID {
        try emit(name, inputs, attributes)[0]
    }

    /// Adds the node producing this torch node's outputs: torch's names, and torch's dims where
    /// Ember's inference leaves them open. Extra torch outputs (batch norm's saved statistics, max
    /// pooling's indices) are left undefined when `outputs` is smaller.
    public mutating func emitFinal(_ name: String, _ inputs: [ValueID?], _ attributes: [(String, Attribute)] = [], outputs: Int = 1)
        throws
    {
        let op = try make(name, attributes)
        let inferred = try builder.inferTypes(op, inputs, outputCount: outputs, location: nodeName)
        let names = outputNames
        var types: [TensorType] = []
        for (i, t) in inferred.enumerated() {
            types.append(try merge(t, i < names.count ? names[i].flatMap { try? program.type(of: $0) } : nil))
        }
        let ids = try builder.add(
            op, inputs, outputs: outputs, names: (0..<outputs).map { i in i < names.count ? names[i] ?? "" : "" },
            nodeName: nodeName, types: types)
        bind(ids)
    }

    /// Binds the torch outputs to `ids`, in order.
    mutating func bind(_ ids: [ValueID]) {
        if node.outputs.count == 1, case .tensors(let ns) = node.outputs[0] {
            for (n, id) in zip(ns, ids) { values[n] = .tensor(id) }
            return
        }
        for (output, id) in zip(node.outputs, ids) {
            if case .tensor(let n) = output { values[n] = .tensor(id) }
        }
    }

    /// Makes the node's single output another name for `id`: no node is added.
    public mutating func alias(_ id: ValueID) { bind([id]) }

    /// Ember's inferred type refined by torch's: a dim Ember leaves open takes torch's; known dims must agree.
    func merge(_ inferred: TensorType, _ declared: TensorType?) throws -> TensorType {
        guard let declared, let d = declared.shape else { return inferred }
        guard declared.dtype == inferred.dtype else {
            throw fail("produces \(inferred.dtype) in Ember but torch declares \(declared.dtype)", .internalError)
        }
        guard let s = inferred.shape else { return TensorType(inferred.dtype, d) }
        guard s.count == d.count else {
            throw fail("produces rank \(s.count) (\(inferred)) in Ember but torch declares \(declared)", .internalError)
        }
        let dims = try zip(s, d).map { a, b -> Dim in
            if case .known(let x) = a {
                if case .known(let y) = b, x != y {
                    throw fail("produces \(inferred) in Ember but torch declares \(declared)", .internalError)
                }
                return a
            }
            return b == .unknown ? a : b
        }
        return TensorType(inferred.dtype, dims)
    }

    public mutating func constant(_ tensor: Tensor) -> ValueID {
        builder.constant(tensor, name: "\(nodeName)_const")
    }

    /// An i64 vector constant.
    public mutating func ints(_ values: [Int]) -> ValueID {
        constant(Tensor(shape: [values.count], int64s: values.map(Int64.init)))
    }

    /// A scalar constant of `dtype`.
    public mutating func scalar(_ value: Double, _ dtype: DType) -> ValueID {
        constant(Tensor(dtype, shape: [], doubles: [value]))
    }

    /// `x` cast to `dtype` (no node when it already is).
    public mutating func cast(_ x: ValueID, _ dtype: DType) throws -> ValueID {
        type(x).dtype == dtype ? x : try emit1("cast", [x], [("to", .dtype(dtype))])
    }

    /// A symbolic int as an i64 [1] value.
    mutating func materialize(_ s: SymValue) throws -> ValueID {
        if let r = s.runtime { return r }
        guard let k = s.known else { throw fail("symbolic size \(s.dim) has no value to compute it from", .unsupported) }
        return ints([k])
    }

    /// A shape vector from symbolic sizes: a constant when all are known.
    mutating func shapeVector(_ sizes: [SymValue]) throws -> ValueID {
        if sizes.allSatisfy({ $0.known != nil }) { return ints(sizes.compactMap(\.known)) }
        let parts = try sizes.map { try materialize($0) }
        return try emit1("concat", parts, [("axis", .int(0))])
    }

    /// The shape input for reshaping `x` to `sizes`: a constant where every symbolic size is the
    /// input's dim at the same place (written 0) or the only one left (written -1); otherwise the
    /// sizes are computed at run time.
    mutating func reshapeTarget(_ x: ValueID, _ sizes: [SymValue]) throws -> ValueID {
        let input = type(x).shape ?? []
        var target: [Int] = []
        var open = 0
        for (i, s) in sizes.enumerated() {
            if let k = s.known {
                target.append(k)
                if k == -1 { open += 1 }
                if k == 0 { open += 2 }  // a real 0 would read as "copy"; compute at run time
            } else if i < input.count, input[i] == s.dim, input[i] != .unknown {
                target.append(0)
            } else {
                target.append(-1)
                open += 1
            }
        }
        if open <= 1 { return ints(target) }
        return try shapeVector(sizes)
    }

    /// The dims of torch's declared output as symbolic sizes (for ops whose shape torch has worked out).
    func declaredSizes(_ i: Int = 0) throws -> [SymValue] {
        guard let shape = outputType(i)?.shape else { throw fail("torch declares no shape for the output") }
        return shape.map { SymValue(dim: $0) }
    }
}

/// How a torch value aliases another's memory, so that an in-place op on it (`fill_` on a slice,
/// as Swin's attention mask is built) can be written back into the tensor it views.
enum TorchView {
    /// The same elements (`alias`, `contiguous` of a contiguous tensor, eval-mode dropout).
    case alias(base: String)
    /// `base[start::step]` along `dim` (`slice`), or one index with the dim dropped (`select`).
    case slice(base: String, dim: Int, start: Int, step: Int, dropsDim: Bool)
    /// A view Ember does not write back through (reshapes, permutes, expands...).
    case opaque(base: String)
}

extension TorchNodeContext {
    /// Whether the current target is an in-place variant (`aten.add_.Tensor`).
    var isInPlace: Bool {
        let parts = target.split(separator: ".")
        return parts.count == 3 && parts[1].hasSuffix("_") && !parts[1].hasPrefix("_")
    }

    /// Records what the node's output views, after the node is converted.
    mutating func recordView() throws {
        guard case .tensor(let output)? = node.outputs.first, case .tensor(let base)? = arg("self") ?? arg("input") else {
            return
        }
        let op = TorchOps.opName(target).replacingOccurrences(of: "aten.", with: "")
        switch op {
        case "alias", "contiguous", "detach", "dropout", "lift_fresh", "feature_dropout", "alpha_dropout":
            views[output] = .alias(base: base)
        case "slice":
            guard let x = try? optionalTensor("self"), let rank = type(x).rank, let dim = try? axis(int("dim", default: 0), rank: rank),
                let size = type(x).shape?[dim].value
            else { views[output] = .opaque(base: base); return }
            var start = (try? int("start", default: 0)) ?? 0
            if start < 0 { start += size }
            views[output] = .slice(base: base, dim: dim, start: min(max(start, 0), size), step: (try? int("step", default: 1)) ?? 1, dropsDim: false)
        case "select":
            guard let x = try? optionalTensor("self"), let rank = type(x).rank, let dim = try? axis(int("dim"), rank: rank),
                let size = type(x).shape?[dim].value, var index = try? int("index")
            else { views[output] = .opaque(base: base); return }
            if index < 0 { index += size }
            views[output] = .slice(base: base, dim: dim, start: index, step: 1, dropsDim: true)
        case "view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "unsqueeze", "squeeze", "flatten",
            "unflatten", "narrow", "diagonal", "as_strided", "view_as", "expand_as", "swapaxes", "unfold":
            views[output] = .opaque(base: base)
        default:
            if isInPlace, let existing = views[base] { views[output] = existing }
        }
    }

    /// After an in-place op: its `self` (and whatever `self` views, transitively) now hold the result.
    mutating func applyMutation() throws {
        guard isInPlace, case .tensor(let mutated)? = arg("self"), case .tensor(let output)? = node.outputs.first,
            case .tensor(let result)? = values[output]
        else { return }
        var name = mutated
        var value = result
        while true {
            values[name] = .tensor(value)
            guard let view = views[name] else { return }
            switch view {
            case .alias(let base):
                name = base
            case .slice(let base, let dim, let start, let step, let dropsDim):
                guard case .tensor(let baseValue)? = values[base] else { return }
                var src = value
                if dropsDim { src = try emit1("unsqueeze", [src, ints([dim])]) }
                let saved = node
                node.outputs = []  // the scatter is an intermediate: no torch name
                defer { node = saved }
                value = try scatterSliceValue(baseValue, src, dim: dim, start: start, step: step)
                name = base
            case .opaque:
                throw fail("writes in place through a reshaping view, which Ember does not support", .unsupported)
            }
        }
    }

    /// `scatterSlice` as an intermediate value.
    mutating func scatterSliceValue(_ x: ValueID, _ src: ValueID, dim: Int, start: Int, step: Int) throws -> ValueID {
        guard let shape = type(src).knownShape else { throw fail("needs the source's shape known at import", .unsupported) }
        let count = Tensor.elementCount(shape) ?? 0
        let strides = Tensor.strides(of: shape)
        let indices = (0..<count).map { i in Int64(start + (i / strides[dim]) % shape[dim] * step) }
        let index = constant(Tensor(shape: shape, int64s: indices))
        return try emit1("scatter_elements", [x, index, try cast(src, type(x).dtype)], [("axis", .int(dim))])
    }
}
