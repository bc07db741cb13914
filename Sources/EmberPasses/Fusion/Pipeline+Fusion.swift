import EmberIR

extension Pipeline {
    /// Attention's head split and merge folded into it (its 3-D form), then elementwise chains
    /// and epilogues fused into the nodes that produce them.
    static let fusion: [any Pass] = [
        MergeAttentionHeads(),
        FuseEpilogues(),
        FuseElementwise(),
    ]
}
