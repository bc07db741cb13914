import EmberIR

extension Pipeline {
    /// Shapes made known, constants folded, and what does nothing removed.
    static let cleanup: [any Pass] = [
        ShapePropagation(),
        FoldShapeComputations(),
        ConstantFolding(),
        RemoveNoOps(),
        MergeTransposes(),
        MergeReshapes(),
        CommonSubexpressionElimination(),
        DeadCodeElimination(),
    ]
}
