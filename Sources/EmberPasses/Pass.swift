import EmberIR

/// A graph transformation with a stable kebab-case name.
///
///     struct DeadCodeElimination: Pass {
///         static let name = "dead-code"
///         func run(_ graph: inout Graph) throws -> Bool { ... }
///     }
public protocol Pass: Sendable {
    /// The name used by pipelines, `--disable-pass` and `--print-ir-after`.
    static var name: String { get }
    /// Transforms `graph` in place; returns whether anything changed. The graph must verify afterwards.
    func run(_ graph: inout Graph) throws -> Bool
}

extension Pass {
    public var name: String { Self.name }
}

/// Passes run in rounds, in order, until a round changes nothing (at most `rounds` of them).
/// Shape inference, folding and no-op removal each make known what the others need: a pad whose
/// sizes fold gives its result a shape, whose `shape` then folds into the next reshape's target,
/// so a model with a chain of such steps (a windowed transformer pads in every stage) needs as
/// many rounds as the chain is long. `PassManager` runs the group's passes one by one, so each
/// keeps its name for `--disable-pass`, `--print-ir-after` and the statistics.
public struct UntilUnchanged: Pass {
    public static let name = "until-unchanged"
    public let passes: [any Pass]
    public let rounds: Int

    public init(_ passes: [any Pass], rounds: Int = 16) {
        self.passes = passes
        self.rounds = rounds
    }

    /// Runs the rounds as `PassManager` does.
    public func run(_ graph: inout Graph) throws -> Bool {
        try PassManager([self]).run(&graph).contains { $0.changed }
    }
}
