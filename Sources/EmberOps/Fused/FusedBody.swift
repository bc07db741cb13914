import EmberIR

/// The steps a fused node runs, in order: each step is an ordinary op whose operands are the fused
/// node's inputs or earlier steps' results. The last step's result is the fused node's output.
///
/// In the text IR a body is a set of attributes of the fused node:
///
///     %y = fused_elementwise(%x, %b, %slope) {names = ["sum", "act"], s1.alpha = 0.1,
///            steps = ["add($0, $1)", "leaky_relu(%0)", "mul(%1, $2)"]} : f32[batch,64]
///
/// - `steps`: one `op(operands)` per step; `$i` is the node's input `i`, `%k` the result of step `k`,
///   `_` an absent optional input.
/// - `sK.NAME`: attribute `NAME` of step `K`, with its own type (float, ints, tensor...).
/// - `names`: the names the intermediate results (every step but the last) had before fusion, so
///   that `decompose` gives back the original values; absent when they had none worth keeping.
/// - `locs`: the model node name of each step, for error messages and decomposition; absent when
///   every step had none.
///
/// Evaluation runs the steps' own reference evaluations one after another, so a fused node rounds
/// each intermediate to its dtype exactly as the separate ops did.
public struct FusedBody: Sendable {
    /// Where a step's operand comes from.
    public enum Operand: Hashable, Sendable, CustomStringConvertible {
        /// The fused node's input at this position.
        case input(Int)
        /// The result of the step at this position.
        case step(Int)

        public var description: String {
            switch self {
            case .input(let i): "$\(i)"
            case .step(let k): "%\(k)"
            }
        }
    }

    /// One op of the body.
    public struct Step: Sendable {
        public var op: any Operator
        /// nil marks an absent optional input.
        public var operands: [Operand?]
        /// The name the step's result had before fusion; empty when unknown.
        public var name: String
        /// The model node the step came from; may be empty.
        public var location: String

        public init(op: any Operator, operands: [Operand?], name: String = "", location: String = "") {
            self.op = op
            self.operands = operands
            self.name = name
            self.location = location
        }
    }

    public var steps: [Step]

    /// A body from steps; checks that each operand refers to an earlier step and that every result
    /// but the last is used, so the body is a DAG with one output.
    public init(_ steps: [Step], op: String) throws {
        self.steps = steps
        try validate(op)
    }

    /// The input positions the steps read, for checking against the node's input count.
    public var inputCount: Int {
        var count = 0
        for step in steps {
            for case .input(let i)? in step.operands { count = max(count, i + 1) }
        }
        return count
    }

    private func validate(_ op: String) throws {
        guard !steps.isEmpty else { throw EmberError.op(op, "expected at least one step") }
        var used = [Bool](repeating: false, count: steps.count)
        var inputsRead: Set<Int> = []
        for (k, step) in steps.enumerated() {
            let type = Swift.type(of: step.op)
            guard type.inputArity.contains(step.operands.count) else {
                throw EmberError.op(
                    op, "step \(k) (\(step.op.name)) has \(step.operands.count) operands, expected \(type.inputArity)")
            }
            guard type.outputArity.contains(1) else {
                throw EmberError.op(op, "step \(k) (\(step.op.name)) cannot produce exactly one result")
            }
            guard !(step.op is FusedElementwise), !(step.op is FusedEpilogue) else {
                throw EmberError.op(op, "step \(k) is itself a fused op")
            }
            for case let operand? in step.operands {
                switch operand {
                case .input(let i):
                    guard i >= 0 else { throw EmberError.op(op, "step \(k) reads input \(i)") }
                    inputsRead.insert(i)
                case .step(let j):
                    guard j >= 0, j < k else {
                        throw EmberError.op(op, "step \(k) reads %\(j), which is not an earlier step")
                    }
                    used[j] = true
                }
            }
        }
        if let unused = used.dropLast().firstIndex(of: false) {
            throw EmberError.op(op, "the result of step \(unused) (\(steps[unused].op.name)) is never used")
        }
        let count = inputCount
        if let missing = (0..<count).first(where: { !inputsRead.contains($0) }) {
            throw EmberError.op(op, "input \(missing) is never read")
        }
    }

    /// Checks that a node with this body has exactly the inputs the steps read.
    func expectInputs(_ count: Int, _ op: String) throws {
        guard count == inputCount else {
            throw EmberError.op(op, "has \(count) inputs, but its steps read \(inputCount)")
        }
    }

    // MARK: Attributes

    /// Reads a body from a fused node's attributes; step ops are made with `registry`.
    public init(attributes: Attributes, registry: OperatorRegistry = .standard) throws {
        let op = attributes.opName
        try attributes.expectOnly(
            Set(attributes.names.filter { FusedBody.stepAttribute($0) != nil }).union(["steps", "names", "locs"]))
        guard let texts = try attributes.strings("steps") else {
            throw EmberError.op(op, "attribute 'steps' is required")
        }
        var stepAttributes = texts.map { _ in [(String, Attribute)]() }
        for entry in attributes.entries {
            guard let (k, name) = FusedBody.stepAttribute(entry.name) else { continue }
            guard k < texts.count else {
                throw EmberError.op(op, "attribute '\(entry.name)' belongs to step \(k), but there are \(texts.count) steps")
            }
            stepAttributes[k].append((name, entry.value))
        }
        let names = try attributes.strings("names") ?? []
        guard names.isEmpty || names.count == texts.count - 1 else {
            throw EmberError.op(op, "expected \(texts.count - 1) names (one per intermediate result), received \(names.count)")
        }
        let locations = try attributes.strings("locs") ?? []
        guard locations.isEmpty || locations.count == texts.count else {
            throw EmberError.op(op, "expected \(texts.count) locs (one per step), received \(locations.count)")
        }
        var steps: [Step] = []
        for (k, text) in texts.enumerated() {
            let (opName, operands) = try FusedBody.parseStep(text, op: op)
            let stepOp: any Operator
            do {
                stepOp = try registry.make(opName, Attributes(op: opName, stepAttributes[k]))
            } catch let error as EmberError {
                throw EmberError(error.code, "[\(op)] step \(k): \(error.message)", cause: error)
            }
            steps.append(Step(
                op: stepOp, operands: operands, name: k < names.count ? names[k] : "",
                location: locations.isEmpty ? "" : locations[k]))
        }
        try self.init(steps, op: op)
    }

    /// The body as attributes of a node of kind `op`.
    public func attributes(op: String) -> Attributes {
        var attrs = Attributes(op: op)
        attrs["steps"] = .strings(steps.map { step in
            "\(step.op.name)(" + step.operands.map { $0.map(\.description) ?? "_" }.joined(separator: ", ") + ")"
        })
        for (k, step) in steps.enumerated() {
            for entry in step.op.attributes.entries { attrs["s\(k).\(entry.name)"] = entry.value }
        }
        let names = steps.dropLast().map(\.name)
        if names.contains(where: { !$0.isEmpty }) { attrs["names"] = .strings(names) }
        if steps.contains(where: { !$0.location.isEmpty }) { attrs["locs"] = .strings(steps.map(\.location)) }
        return attrs
    }

    /// `s12.alpha` -> (12, "alpha").
    static func stepAttribute(_ name: String) -> (Int, String)? {
        guard name.first == "s", let dot = name.firstIndex(of: ".") else { return nil }
        let digits = name[name.index(after: name.startIndex)..<dot]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let k = Int(digits) else { return nil }
        let rest = name[name.index(after: dot)...]
        return rest.isEmpty ? nil : (k, String(rest))
    }

    /// Operand positions beyond any real graph's, refused so that counting inputs cannot overflow.
    static let maxOperandIndex = 1 << 24

    /// `add($0, %1)` -> ("add", [.input(0), .step(1)]).
    static func parseStep(_ written: String, op: String) throws -> (String, [Operand?]) {
        let text = trimmed(written[...])
        func bad() -> EmberError { EmberError.op(op, "step '\(written)' is not of the form name($0, %1, _)", code: .invalidIR) }
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else { throw bad() }
        let name = String(trimmed(text[..<open]))
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw bad()
        }
        let inner = trimmed(text[text.index(after: open)..<text.index(before: text.endIndex)])
        if inner.isEmpty { return (name, []) }
        let operands = try inner.split(separator: ",", omittingEmptySubsequences: false).map { word -> Operand? in
            let w = trimmed(word)
            if w == "_" { return nil }
            guard let sigil = w.first, let index = Int(w.dropFirst()), (0..<maxOperandIndex).contains(index),
                w.dropFirst().allSatisfy(\.isNumber)
            else { throw bad() }
            switch sigil {
            case "$": return .input(index)
            case "%": return .step(index)
            default: throw bad()
            }
        }
        return (name, operands)
    }

    private static func trimmed(_ s: Substring) -> Substring {
        guard let first = s.firstIndex(where: { $0 != " " }), let last = s.lastIndex(where: { $0 != " " }) else {
            return ""
        }
        return s[first...last]
    }

    // MARK: Inference and evaluation

    /// The type of every step's result, from the node's input types (and constants).
    public func stepTypes(_ inputs: OpInputs, op: String) throws -> [TensorType] {
        try expectInputs(inputs.count, op)
        var types: [TensorType] = []
        for (k, step) in steps.enumerated() {
            var operandTypes: [TensorType?] = []
            var constants: [Tensor?] = []
            for operand in step.operands {
                switch operand {
                case nil:
                    operandTypes.append(nil)
                    constants.append(nil)
                case .input(let i)?:
                    operandTypes.append(try inputs.type(i))
                    constants.append(inputs.constant(i))
                case .step(let j)?:
                    operandTypes.append(types[j])
                    constants.append(nil)
                }
            }
            let result = try located(k, step, op) {
                try step.op.inferTypes(
                    OpInputs(step.op.name, types: operandTypes, constants: constants), outputCount: 1)
            }
            guard let first = result.first else {
                throw EmberError.op(op, "step \(k) (\(step.op.name)) inferred no result")
            }
            types.append(first)
        }
        return types
    }

    /// Runs the steps in order with their reference evaluations; returns the last result.
    public func evaluate(_ inputs: [Tensor?], op: String) throws -> Tensor {
        try expectInputs(inputs.count, op)
        var lastUse = [Int](repeating: -1, count: steps.count)
        for (k, step) in steps.enumerated() {
            for case .step(let j)? in step.operands { lastUse[j] = k }
        }
        var results = [Tensor?](repeating: nil, count: steps.count)
        for (k, step) in steps.enumerated() {
            let args: [Tensor?] = try step.operands.map { operand in
                switch operand {
                case nil: return nil
                case .input(let i)?: return try inputs.required(i, op)
                case .step(let j)?:
                    guard let t = results[j] else { throw EmberError.op(op, "step \(k) reads a freed result") }
                    return t
                }
            }
            let outputs = try located(k, step, op) { try step.op.evaluate(args, outputCount: 1) }
            guard let result = outputs.first else {
                throw EmberError.op(op, "step \(k) (\(step.op.name)) produced no result")
            }
            results[k] = result
            for case .step(let j)? in step.operands where lastUse[j] == k { results[j] = nil }
        }
        guard let output = results[steps.count - 1] else { throw EmberError.op(op, "produced no result") }
        return output
    }

    private func located<T>(_ k: Int, _ step: Step, _ op: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EmberError {
            var wrapped = error
            wrapped.message = "[\(op)] step \(k): \(error.message)"
            throw wrapped
        }
    }
}
