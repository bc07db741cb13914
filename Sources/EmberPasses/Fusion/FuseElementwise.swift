import EmberIR
import EmberOps

/// Replaces each chain (or single-output DAG) of elementwise ops by one `fused_elementwise` node,
/// whose steps are the ops in order, rounding each result as the separate ops did.
///
///     %a = add(%x, %b) : f32[n,4]
///     %y = relu(%a) : f32[n,4]      ->   %y = fused_elementwise(%x, %b) {names = ["a"],
///                                           steps = ["add($0, $1)", "relu(%0)"]} : f32[n,4]
///
/// Operands may broadcast (bias vectors, scalars, residuals). A result also read outside the chain,
/// or returned by the graph, stays materialized. Chains computing integers or bools (shape
/// arithmetic, masks on their own) are left alone.
public struct FuseElementwise: Pass {
    public static let name = "fuse-elementwise"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        FusionGroups.fuse(FusionGroups.find(in: graph, anchors: false), in: &graph)
    }
}
