import EmberIR
import EmberOps

/// A function of one vector that an elementwise program applies.
enum UnaryFunction: Sendable, Equatable {
    case copy
    case primitive(ScalarFunction)
    /// `clamp(x * scale + offset, low, high)`: the constant multiplications, additions and bounds
    /// of a formula folded into one loop (`relu` is the bounds alone).
    case affine(scale: Float, offset: Float, low: Float, high: Float)
    case square, cube, reciprocal, reciprocalSqrt
    /// `x^e` for a constant `e` with no cheaper form, element by element.
    case power(Float)
}

/// One step of an elementwise program: reads registers, writes one.
enum ElementwiseInstruction: Sendable, Equatable {
    case unary(UnaryFunction, dst: Int, src: Int)
    case binary(ScalarOperation, dst: Int, a: Int, b: Int)
    case select(ScalarComparison, dst: Int, lhs: Int, rhs: Int, then: Int, otherwise: Int)

    var dst: Int {
        switch self {
        case .unary(_, let dst, _), .binary(_, let dst, _, _), .select(_, let dst, _, _, _, _): dst
        }
    }

    var sources: [Int] {
        switch self {
        case .unary(_, _, let src): [src]
        case .binary(_, _, let a, let b): [a, b]
        case .select(_, _, let lhs, let rhs, let then, let otherwise): [lhs, rhs, then, otherwise]
        }
    }

    /// The instruction with its registers renamed by `rename`.
    func renamed(_ rename: (Int) -> Int) -> ElementwiseInstruction {
        switch self {
        case .unary(let f, let dst, let src): .unary(f, dst: rename(dst), src: rename(src))
        case .binary(let f, let dst, let a, let b): .binary(f, dst: rename(dst), a: rename(a), b: rename(b))
        case .select(let c, let dst, let lhs, let rhs, let then, let otherwise):
            .select(c, dst: rename(dst), lhs: rename(lhs), rhs: rename(rhs), then: rename(then), otherwise: rename(otherwise))
        }
    }
}

/// A fused elementwise body (or a single elementwise op) compiled from its ops' `ScalarFormula`s
/// to vector instructions over f32 registers of one tile each.
///
/// Registers `0..<inputCount` hold the node's inputs, then come the constants (filled once per
/// thread), then `outputRegister`, which only the last instruction writes (so an output that
/// shares input 0's buffer is written after every read of it), then scratch registers, reused
/// once their value is dead.
struct ElementwiseProgram: Sendable {
    var inputCount: Int
    var instructions: [ElementwiseInstruction]
    /// The constant registers and their values.
    var constants: [(register: Int, value: Float)]
    var outputRegister: Int
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
        var compiler = FormulaCompiler(inputCount: node.inputTypes.count)
        var results: [FormulaCompiler.Value] = []
        for (k, step) in steps.enumerated() {
            guard let op = step.op as? any ScalarElementwise else {
                throw EmberError.op(node.op.name, "step \(k) (\(step.op.name)) has no vectorized form", code: .unsupported)
            }
            let operands: [ScalarFormula?] = step.operands.map { operand in
                switch operand {
                case .input(let i)?:
                    // A constant scalar input is folded into the instructions.
                    if i < node.constants.count, let t = node.constants[i], t.count == 1, let value = t.scalarDouble {
                        return .constant(value)
                    }
                    return .operand(i)
                case .step(let j)?: return .operand(node.inputTypes.count + j)
                case nil: return nil
                }
            }
            results.append(compiler.compile(try op.formula(operands), steps: results))
        }
        guard let last = results.last else { throw EmberError.op(node.op.name, "has no steps", code: .unsupported) }
        compiler.finish(last)
        self.init(compiler)
        inputCount = node.inputTypes.count
        for i in 0..<inputCount where inputUsed[i] && node.inputTypes[i]?.dtype != .f32 {
            throw EmberError.op(
                node.op.name, "input \(i) has dtype \(node.inputTypes[i]?.dtype.description ?? "?"), expected f32",
                code: .unsupported)
        }
    }

    /// Assigns the compiler's virtual registers to tiles: each scratch value takes a tile freed
    /// by a value whose last read came before.
    private init(_ compiler: FormulaCompiler) {
        let inputCount = compiler.inputCount
        let virtual = compiler.instructions
        var lastRead: [Int: Int] = [:]
        for (index, instruction) in virtual.enumerated() {
            for r in instruction.sources { lastRead[r] = index }
        }
        var physical: [Int: Int] = [:]
        for r in 0..<inputCount { physical[r] = r }
        var constants: [(register: Int, value: Float)] = []
        for (r, value) in compiler.constants.sorted(by: { $0.key < $1.key }) {
            physical[r] = inputCount + constants.count
            constants.append((inputCount + constants.count, value))
        }
        let output = inputCount + constants.count
        var next = output + 1
        var free: [Int] = []
        var instructions: [ElementwiseInstruction] = []
        for (index, instruction) in virtual.enumerated() {
            // Sources read for the last time here free their tiles, which the result may take:
            // every loop reads element i before it writes element i.
            for r in Set(instruction.sources) where r >= inputCount && compiler.constants[r] == nil && lastRead[r] == index {
                if let slot = physical[r] { free.append(slot) }
            }
            if index == virtual.count - 1 {
                physical[instruction.dst] = output
            } else if let slot = free.popLast() {
                physical[instruction.dst] = slot
            } else {
                physical[instruction.dst] = next
                next += 1
            }
            instructions.append(instruction.renamed { physical[$0] ?? $0 })
        }
        self.inputCount = inputCount
        self.instructions = instructions
        self.constants = constants
        outputRegister = output
        registerCount = next
        inputUsed = (0..<inputCount).map { i in virtual.contains { $0.sources.contains(i) } }
    }
}

/// Turns formulas into instructions over virtual registers, each written once: the inputs are
/// `0..<inputCount`, every other value gets a new register. Constant multiplications,
/// additions and bounds wait as a pending `affine` until something else reads the value, so
/// `hard_swish`'s `x * clamp(x / 6 + 0.5, 0, 1)` is two loops, not five.
private struct FormulaCompiler {
    /// A value of the formula being compiled.
    enum Value {
        case register(Int)
        case constant(Float)
        /// `clamp(register * scale + offset, low, high)`, not yet computed.
        case pending(Int, Affine)
    }

    struct Affine {
        var scale: Float = 1
        var offset: Float = 0
        var low = -Float.infinity
        var high = Float.infinity

        var isClamped: Bool { low > -.infinity || high < .infinity }
    }

    let inputCount: Int
    var instructions: [ElementwiseInstruction] = []
    /// The registers that hold a constant, by register.
    var constants: [Int: Float] = [:]
    private var nextRegister: Int

    init(inputCount: Int) {
        self.inputCount = inputCount
        nextRegister = inputCount
    }

    private mutating func fresh() -> Int {
        defer { nextRegister += 1 }
        return nextRegister
    }

    /// The value of `formula`, whose `.operand(i)` is input `i` below `inputCount` and the
    /// result of step `i - inputCount` above.
    mutating func compile(_ formula: ScalarFormula, steps: [Value]) -> Value {
        switch formula {
        case .operand(let i): return i < inputCount ? .register(i) : steps[i - inputCount]
        case .constant(let c): return .constant(Float(c))
        case .apply(let f, let x):
            let v = compile(x, steps: steps)
            if f == .neg, case .pending(let r, var a) = v, !a.isClamped {
                (a.scale, a.offset) = (-a.scale, -a.offset)
                return .pending(r, a)
            }
            return emit(.primitive(f), v)
        case .combine(let f, let a, let b):
            return combine(f, compile(a, steps: steps), compile(b, steps: steps))
        case .select(let c, let then, let otherwise):
            let operands = [c.lhs, c.rhs, then, otherwise].map { register(compile($0, steps: steps)) }
            let dst = fresh()
            instructions.append(
                .select(c.comparison, dst: dst, lhs: operands[0], rhs: operands[1], then: operands[2], otherwise: operands[3]))
            return .register(dst)
        }
    }

    /// `f(a, b)`, folding constants into a pending affine where that is exact enough.
    private mutating func combine(_ f: ScalarOperation, _ a: Value, _ b: Value) -> Value {
        switch (f, a, b) {
        case (_, .constant(let x), .constant(let y)):
            return .constant(Float(f(Double(x), Double(y))))
        case (.mul, _, .constant(let c)), (.mul, .constant(let c), _):
            return affine(a.isConstant ? b : a) { $0.scale *= c; $0.offset *= c }
        case (.add, _, .constant(let c)), (.add, .constant(let c), _):
            return affine(a.isConstant ? b : a) { $0.offset += c }
        case (.sub, _, .constant(let c)):
            return affine(a) { $0.offset -= c }
        case (.sub, .constant(let c), _):
            return affine(b) { $0.scale = -$0.scale; $0.offset = c - $0.offset }
        case (.max, _, .constant(let c)) where !c.isNaN, (.max, .constant(let c), _) where !c.isNaN:
            return bound(a.isConstant ? b : a) { $0.low = Swift.max($0.low, c); $0.high = Swift.max($0.high, c) }
        case (.min, _, .constant(let c)) where !c.isNaN, (.min, .constant(let c), _) where !c.isNaN:
            return bound(a.isConstant ? b : a) { $0.low = Swift.min($0.low, c); $0.high = Swift.min($0.high, c) }
        case (.div, .constant(1), _):
            return emit(.reciprocal, b)
        case (.pow, _, .constant(let e)):
            switch e {
            case 1: return a
            case 2: return emit(.square, a)
            case 3: return emit(.cube, a)
            case 0.5: return emit(.primitive(.sqrt), a)
            case -1: return emit(.reciprocal, a)
            case -0.5: return emit(.reciprocalSqrt, a)
            default: return emit(.power(e), a)
            }
        default:
            let (ra, rb) = (register(a), register(b))
            let dst = fresh()
            instructions.append(.binary(f, dst: dst, a: ra, b: rb))
            return .register(dst)
        }
    }

    /// `v` with an unclamped affine change; a clamped pending value is computed first.
    private mutating func affine(_ v: Value, _ change: (inout Affine) -> Void) -> Value {
        var (r, a) = pending(v)
        if a.isClamped { (r, a) = (register(v), Affine()) }
        change(&a)
        return .pending(r, a)
    }

    /// `v` with changed bounds.
    private mutating func bound(_ v: Value, _ change: (inout Affine) -> Void) -> Value {
        var (r, a) = pending(v)
        change(&a)
        return .pending(r, a)
    }

    private mutating func pending(_ v: Value) -> (Int, Affine) {
        if case .pending(let r, let a) = v { return (r, a) }
        return (register(v), Affine())
    }

    /// `f(v)` in a new register.
    private mutating func emit(_ f: UnaryFunction, _ v: Value) -> Value {
        let src = register(v)
        let dst = fresh()
        instructions.append(.unary(f, dst: dst, src: src))
        return .register(dst)
    }

    /// A register holding `v`, computing a pending affine.
    mutating func register(_ v: Value) -> Int {
        switch v {
        case .register(let r): return r
        case .constant(let c):
            if let r = constants.first(where: { $0.value == c })?.key { return r }
            let r = fresh()
            constants[r] = c
            return r
        case .pending(let r, let a):
            let dst = fresh()
            instructions.append(.unary(.affine(scale: a.scale, offset: a.offset, low: a.low, high: a.high), dst: dst, src: r))
            return dst
        }
    }

    /// Makes `result` the last instruction's result, which the program writes to its output.
    mutating func finish(_ result: Value) {
        let src = register(result)
        if instructions.last?.dst == src, constants[src] == nil, src >= inputCount { return }
        instructions.append(.unary(.copy, dst: fresh(), src: src))
    }
}

extension FormulaCompiler.Value {
    fileprivate var isConstant: Bool {
        if case .constant = self { return true }
        return false
    }
}
