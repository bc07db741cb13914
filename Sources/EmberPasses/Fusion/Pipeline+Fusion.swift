import EmberIR

extension Pipeline {
    /// Elementwise chains and epilogues fused into the nodes that produce them.
    static let fusion: [any Pass] = [
        FuseEpilogues(),
        FuseElementwise(),
    ]
}
