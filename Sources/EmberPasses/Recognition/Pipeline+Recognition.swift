import EmberIR

extension Pipeline {
    /// Folding batch norms and scalar arithmetic into the weights of the op before them.
    static let folding: [any Pass] = []

    /// Decomposed patterns recognized as single ops.
    static let recognition: [any Pass] = []
}
