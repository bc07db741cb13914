import EmberIR
import EmberOps

/// Takes every fused node apart into the ops it was made of (see `FusedOps.unfuse`), for a backend
/// that cannot run a fused node as one, and to check that fusion is reversible.
public struct Unfuse: Pass {
    public static let name = "unfuse"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        var changed = false
        // From the end, so the positions still to visit do not move.
        for index in graph.nodes.indices.reversed() {
            changed = try FusedOps.unfuse(nodeAt: index, in: &graph) || changed
        }
        return changed
    }
}
