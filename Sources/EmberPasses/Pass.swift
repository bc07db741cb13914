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
