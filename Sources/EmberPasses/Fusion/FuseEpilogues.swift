import EmberIR
import EmberOps

/// Attaches elementwise work on the result of a convolution or matrix product (bias add,
/// activation, residual add, any elementwise chain or single-output DAG) to it as a
/// `fused_epilogue` node, which a backend runs as one kernel or takes apart again.
///
///     %c = conv(%x, %w, %b) : f32[1,64,56,56]          %y = fused_epilogue(%x, %w, %b, %r)
///     %s = add(%c, %r) : f32[1,64,56,56]         ->      {names = ["c", "s"], steps = ["conv($0, $1, $2)",
///     %y = relu(%s) : f32[1,64,56,56]                      "add(%0, $3)", "relu(%1)"]} : f32[1,64,56,56]
///
/// A result also read outside the epilogue, or returned by the graph, stays materialized: the
/// epilogue then ends before it, or is not formed. Nor is one formed whose result is larger than
/// the anchor's (a squeeze-and-excite scale broadcast over the image).
public struct FuseEpilogues: Pass {
    public static let name = "fuse-epilogues"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        let groups = FusionGroups.find(in: graph, anchors: true).filter { $0.anchor != nil }
        return FusionGroups.fuse(groups, in: &graph)
    }
}
