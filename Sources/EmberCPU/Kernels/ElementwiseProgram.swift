import EmberIR
import EmberOps

/// A function of one vector that an elementwise program applies.
enum UnaryFunction: Sendable, Equatable {
    case copy, neg, abs, relu, sigmoid, tanh, exp, log, sqrt, reciprocal, erf, softplus
    case floor, ceil, round, sign, square, cube, reciprocalSqrt, hardSwish, silu, geluErf, geluTanh
    case leakyRelu(Float), elu(Float), swish(Float), hardSigmoid(Float, Float), clip(Float, Float)
    /// `x^e` for a constant `e` with no cheaper form, element by element.
    case power(Float)
}

/// A function of two vectors that an elementwise program applies.
enum BinaryFunction: Sendable, Equatable {
    case add, sub, mul, div, max, min, prelu, power, clipBelow, clipAbove
}

/// One step of an elementwise program: reads registers, writes one. Registers `0..<inputCount`
/// hold the node's inputs; register `inputCount + k` holds step `k`'s result.
enum ElementwiseInstruction: Sendable, Equatable {
    case unary(UnaryFunction, dst: Int, src: Int)
    case binary(BinaryFunction, dst: Int, a: Int, b: Int)

    var dst: Int {
        switch self {
        case .unary(_, let dst, _), .binary(_, let dst, _, _): dst
        }
    }

    var sources: [Int] {
        switch self {
        case .unary(_, _, let src): [src]
        case .binary(_, _, let a, let b): [a, b]
        }
    }
}

/// A fused elementwise body (or a single elementwise op) compiled to vector instructions over f32
/// registers. The result of the last instruction is the output.
struct ElementwiseProgram: Sendable {
    var inputCount: Int
    var instructions: [ElementwiseInstruction]
    /// Registers in all: the inputs, one per step and one for partial results within a step.
    var registerCount: Int
    /// Whether each input is read by some instruction (a constant exponent, say, is not).
    var inputUsed: [Bool]

    /// The program of `node`, a `fused_elementwise` or a plain elementwise op; throws with the
    /// reason when some step or dtype is not one this program runs.
    init(_ node: KernelNode) throws {
        let inputs = OpInputs(node.op.name, types: node.inputTypes, constants: node.constants)
        let steps: [FusedBody.Step]
        let types: [TensorType]
        if let fused = node.op as? FusedElementwise {
            steps = fused.body.steps
            types = try fused.body.stepTypes(inputs, op: node.op.name)
        } else {
            // A plain op is a one-step body; absent optional inputs stay absent operands.
            let operands = node.inputTypes.indices.map { node.inputTypes[$0] == nil ? nil : FusedBody.Operand.input($0) }
            steps = [FusedBody.Step(op: node.op, operands: operands)]
            types = try node.op.inferTypes(inputs, outputCount: 1)
        }
        for (k, type) in types.enumerated() where type.dtype != .f32 {
            throw EmberError.op(
                node.op.name, "step \(k) (\(steps[k].op.name)) gives \(type.dtype), expected f32", code: .unsupported)
        }
        var builder = ProgramBuilder(node: node, steps: steps.count)
        for (k, step) in steps.enumerated() {
            try builder.add(step, index: k)
        }
        inputCount = node.inputTypes.count
        instructions = builder.instructions
        registerCount = inputCount + steps.count + 1
        inputUsed = (0..<inputCount).map { i in builder.instructions.contains { $0.sources.contains(i) } }
        for i in 0..<inputCount where inputUsed[i] && node.inputTypes[i]?.dtype != .f32 {
            throw EmberError.op(
                node.op.name, "input \(i) has dtype \(node.inputTypes[i]?.dtype.description ?? "?"), expected f32",
                code: .unsupported)
        }
    }
}

/// Turns steps into instructions, one op at a time.
private struct ProgramBuilder {
    let node: KernelNode
    var instructions: [ElementwiseInstruction] = []

    init(node: KernelNode, steps: Int) {
        self.node = node
        temporary = node.inputTypes.count + steps
    }

    var inputCount: Int { node.inputTypes.count }
    /// The register after every step's, for partial results within one step.
    let temporary: Int

    func register(_ operand: FusedBody.Operand?, _ op: String) throws -> Int {
        switch operand {
        case .input(let i)?: return i
        case .step(let k)?: return inputCount + k
        case nil: throw EmberError.op(op, "an operand is absent", code: .unsupported)
        }
    }

    /// The value of an operand that is a constant scalar input, if it is one.
    func constant(_ operand: FusedBody.Operand?) -> Float? {
        guard case .input(let i)? = operand, i < node.constants.count, let t = node.constants[i], t.count == 1,
            let value = t.scalarDouble
        else { return nil }
        return Float(value)
    }

    mutating func add(_ step: FusedBody.Step, index k: Int) throws {
        let dst = inputCount + k
        let name = step.op.name
        let operands = step.operands
        func unary(_ f: UnaryFunction) throws {
            guard operands.count == 1 else {
                throw EmberError.op(name, "expected 1 operand, received \(operands.count)", code: .unsupported)
            }
            instructions.append(.unary(f, dst: dst, src: try register(operands[0], name)))
        }
        func binary(_ f: BinaryFunction) throws {
            guard operands.count == 2 else {
                throw EmberError.op(name, "expected 2 operands, received \(operands.count)", code: .unsupported)
            }
            instructions.append(.binary(f, dst: dst, a: try register(operands[0], name), b: try register(operands[1], name)))
        }
        /// A variadic op folded left to right into `dst`.
        func fold(_ f: BinaryFunction) throws {
            let registers = try operands.map { try register($0, name) }
            guard let first = registers.first else { throw EmberError.op(name, "expected operands", code: .unsupported) }
            if registers.count == 1 { return instructions.append(.unary(.copy, dst: dst, src: first)) }
            // Partial results go to the scratch register, so an output aliasing input 0 is written last.
            var partial = first
            for r in registers.dropFirst().dropLast() {
                instructions.append(.binary(f, dst: temporary, a: partial, b: r))
                partial = temporary
            }
            instructions.append(.binary(f, dst: dst, a: partial, b: registers[registers.count - 1]))
        }

        switch step.op {
        case is Add: try binary(.add)
        case is Sub: try binary(.sub)
        case is Mul: try binary(.mul)
        case is Div: try binary(.div)
        case is PRelu: try binary(.prelu)
        case is Max: try fold(.max)
        case is Min: try fold(.min)
        case is Sum: try fold(.add)
        case is Pow: try power(step, dst: dst)
        case is Clip: try clip(step, dst: dst)
        case is Neg: try unary(.neg)
        case is Abs: try unary(.abs)
        case is Relu: try unary(.relu)
        case is Sigmoid: try unary(.sigmoid)
        case is Tanh: try unary(.tanh)
        case is Exp: try unary(.exp)
        case is Log: try unary(.log)
        case is Sqrt: try unary(.sqrt)
        case is Reciprocal: try unary(.reciprocal)
        case is Erf: try unary(.erf)
        case is Softplus: try unary(.softplus)
        case is Floor: try unary(.floor)
        case is Ceil: try unary(.ceil)
        case is Round: try unary(.round)
        case is Sign: try unary(.sign)
        case is HardSwish: try unary(.hardSwish)
        case is Silu: try unary(.silu)
        case let op as Gelu: try unary(op.approximate == .none ? .geluErf : .geluTanh)
        case let op as LeakyRelu: try unary(.leakyRelu(Float(op.alpha)))
        case let op as Elu: try unary(.elu(Float(op.alpha)))
        case let op as Swish: try unary(.swish(Float(op.alpha)))
        case let op as HardSigmoid: try unary(.hardSigmoid(Float(op.alpha), Float(op.beta)))
        default:
            throw EmberError.op(node.op.name, "step \(k) (\(name)) has no vectorized form", code: .unsupported)
        }
    }

    /// `pow` with a constant scalar exponent becomes its cheapest form; any other exponent must be
    /// an f32 operand.
    mutating func power(_ step: FusedBody.Step, dst: Int) throws {
        let base = try register(step.operands[0], step.op.name)
        if let e = constant(step.operands[1]) {
            let f: UnaryFunction =
                switch e {
                case 1: .copy
                case 2: .square
                case 3: .cube
                case 0.5: .sqrt
                case -1: .reciprocal
                case -0.5: .reciprocalSqrt
                default: .power(e)
                }
            return instructions.append(.unary(f, dst: dst, src: base))
        }
        let exponent = try register(step.operands[1], step.op.name)
        // Step results are f32 (checked before); an input exponent must be too.
        guard exponent >= inputCount || node.inputTypes[exponent]?.dtype == .f32 else {
            throw EmberError.op(step.op.name, "a non-f32 exponent must be a constant scalar", code: .unsupported)
        }
        instructions.append(.binary(.power, dst: dst, a: base, b: exponent))
    }

    /// `clip` with constant bounds is one instruction; bounds computed at run time take three, the
    /// first two into the scratch register so that an output aliasing input 0 is written last.
    mutating func clip(_ step: FusedBody.Step, dst: Int) throws {
        let x = try register(step.operands[0], step.op.name)
        let low = step.operands.count > 1 ? step.operands[1] : nil
        let high = step.operands.count > 2 ? step.operands[2] : nil
        // An absent bound is infinite; a present one is a constant or nil (known only at run time).
        let lowValue = low == nil ? -Float.infinity : constant(low)
        let highValue = high == nil ? Float.infinity : constant(high)
        if let lowValue, let highValue {
            return instructions.append(.unary(.clip(lowValue, highValue), dst: dst, src: x))
        }
        instructions.append(.unary(.copy, dst: temporary, src: x))
        if let low { instructions.append(.binary(.clipBelow, dst: temporary, a: temporary, b: try register(low, "clip"))) }
        if let high { instructions.append(.binary(.clipAbove, dst: temporary, a: temporary, b: try register(high, "clip"))) }
        instructions.append(.unary(.copy, dst: dst, src: temporary))
    }
}
