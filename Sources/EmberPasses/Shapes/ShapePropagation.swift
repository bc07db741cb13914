import EmberIR

/// Infers every node's output types again, in graph order, from its inputs' refined types and
/// every value known at compile time, and fills in what the declared types leave unknown.
/// Known and symbolic dims are never changed, so a `batch` stays `batch` through the graph.
///
///     %y = reshape(%x, %target) : f32[?,?,12,64]     // %target computed as [batch, sequence, 12, 64]
///     %y = reshape(%x, %target) : f32[batch,sequence,12,64]
public struct ShapePropagation: Pass {
    public static let name = "shape-propagation"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        let analysis = ShapeAnalysis(graph)
        var changed = false
        for node in graph.nodes {
            for id in node.outputs where analysis.publishedType(id) != graph.type(of: id) {
                graph.setType(id, analysis.publishedType(id))
                changed = true
            }
        }
        return changed
    }
}
