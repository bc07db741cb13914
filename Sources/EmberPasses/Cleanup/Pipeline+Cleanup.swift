import EmberIR

extension Pipeline {
    /// Shapes made known, constants folded, and what does nothing removed: the first four in
    /// rounds until none changes the graph, since each makes known what the others fold.
    static let cleanup: [any Pass] = [
        UntilUnchanged([
            ShapePropagation(),
            FoldShapeComputations(),
            ConstantFolding(),
            RemoveNoOps(),
        ]),
        MergeTransposes(),
        MergeReshapes(),
        CommonSubexpressionElimination(),
        DeadCodeElimination(),
    ]
}
