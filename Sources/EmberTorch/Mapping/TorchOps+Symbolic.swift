import EmberIR
import EmberOps

/// Sizes as values: `sym_size` reads a dim, Python operators combine sizes. A size known at
/// import stays a number; a symbolic one is also computed at run time (an i64 [1] value), for
/// the ops that need its value (`view`, `expand`, `arange`).
extension TorchOps {
    static let symbolic: [String: TorchConverter] = dictionary([
        all(["aten.sym_size.int"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let dim = try ctx.axis(try ctx.int("dim"), rank: rank)
            let d = ctx.type(x).shape?[dim] ?? .unknown
            if case .known = d { return ctx.bindSym(SymValue(dim: d)) }
            let runtime = try ctx.emit1("shape", [x], [("start", .int(dim)), ("end", .int(dim + 1))])
            ctx.bindSym(SymValue(dim: ctx.declaredSym() ?? d, runtime: runtime))
        }),
        all(["aten.sym_numel.default"], { ctx in
            let x = try ctx.tensor("self")
            if let shape = ctx.type(x).knownShape { return ctx.bindSym(SymValue(dim: .known(shape.reduce(1, *)))) }
            let runtime = try ctx.emit1("reshape", [try ctx.emit1("size", [x]), ctx.ints([1])])
            ctx.bindSym(SymValue(dim: ctx.declaredSym() ?? .unknown, runtime: runtime))
        }),
        all(["_operator.mul"], symArithmetic("mul", *)),
        all(["_operator.add"], symArithmetic("add", +)),
        all(["_operator.sub"], symArithmetic("sub", -)),
        all(["_operator.floordiv"], symArithmetic("div", { a, b in b == 0 ? 0 : Int((Double(a) / Double(b)).rounded(.down)) })),
        all(["_operator.mod"], symArithmetic("mod", { a, b in b == 0 ? 0 : ((a % b) + b) % b })),
        all(["torch.sym_max", "_operator.max"], symArithmetic("max", max)),
        all(["torch.sym_min", "_operator.min"], symArithmetic("min", min)),
        all(["_operator.getitem"], { ctx in
            guard case .tensor(let n)? = ctx.node.inputs.first?.arg, case .tensors(let ids) = try ctx.value(named: n) else {
                throw ctx.fail("expected a list of tensors")
            }
            let i = try ctx.int(ctx.node.inputs.count > 1 ? ctx.node.inputs[1].name : "index")
            guard i >= 0, i < ids.count else { throw ctx.fail("index \(i) is out of range for \(ids.count) values", .invalidArgument) }
            ctx.alias(ids[i])
        }),
    ])

    /// A binary operator on sizes: folded when both are known, else computed at run time.
    private static func symArithmetic(_ name: String, _ fold: @escaping @Sendable (Int, Int) -> Int) -> TorchConverter {
        { ctx in
            guard ctx.node.inputs.count == 2 else { throw ctx.fail("expected two operands") }
            let operands = try ctx.node.inputs.map { input -> SymValue in
                switch input.arg {
                case .int(let v): return SymValue(dim: .known(v))
                case .symInt(let a): return try ctx.symValue(a)
                default: throw ctx.fail("operator on sizes expected ints, received \(TorchProgram.describe(input.arg))", .unsupported)
                }
            }
            if let a = operands[0].known, let b = operands[1].known { return ctx.bindSym(SymValue(dim: .known(fold(a, b)))) }
            let runtime = try ctx.emit1(name, [try ctx.materialize(operands[0]), try ctx.materialize(operands[1])])
            ctx.bindSym(SymValue(dim: ctx.declaredSym() ?? .unknown, runtime: runtime))
        }
    }
}

extension TorchNodeContext {
    /// The size torch records for the node's symbolic int output.
    func declaredSym() -> Dim? {
        guard case .symInt(.name(let n))? = node.outputs.first else { return nil }
        switch program.graph.sym_int_values?[n] {
        case .int(let v)?: return .known(v)
        case .expr(let e)?: return TorchSymbolic.dim(e)
        default: return nil
        }
    }

    mutating func bindSym(_ s: SymValue) {
        guard case .symInt(.name(let n))? = node.outputs.first else { return }
        values[n] = .symInt(s)
    }
}
