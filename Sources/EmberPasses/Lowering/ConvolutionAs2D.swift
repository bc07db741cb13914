import EmberIR
import EmberOps

/// A 1-D convolution (`X` of rank 3, as in speech front ends: Whisper's and wav2vec2's) as the
/// 2-D convolution it is over an image one row high: `X [N, C, L]` viewed as `[N, C, 1, L]`, the
/// filter `[M, C/g, K]` as `[M, C/g, 1, K]`, and the result viewed back as `[N, M, L']`.
///
///     %y = conv(%x, %w, %b) {pads = [1, 1]} : f16[1,384,3000]
///     ->  reshape(%x, [0, 0, 1, -1]), conv(%x4, %w4, %b) {pads = [0, 1, 0, 1]}, reshape(%y4, [0, 0, -1])
///
/// A lowering for backends whose convolution kernels take 2-D windows only (the CUDA backend's
/// cuDNN path). A fused node anchored on such a convolution is taken apart first, since its
/// epilogue's broadcasts are written for rank 3; `fuse-elementwise` joins the steps after it again.
public struct ConvolutionAs2D: Pass {
    public static let name = "convolution-as-2d"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        var changed = false
        // From the end, so the positions still to visit do not move when a node becomes several.
        for index in graph.nodes.indices.reversed() {
            if let fused = graph.nodes[index].op as? FusedEpilogue, fused.anchor is Conv,
                isOneDimensional(graph.nodes[index], graph)
            {
                changed = try FusedOps.unfuse(nodeAt: index, in: &graph) || changed
            }
        }
        return graph.replacingNodes(lower) || changed
    }

    /// Whether the node's first input (a convolution's X) has rank 3.
    private func isOneDimensional(_ node: Node, _ graph: Graph) -> Bool {
        guard let x = node.inputs.first ?? nil else { return false }
        return graph.type(of: x).shape?.count == 3
    }

    private func lower(_ node: Node, _ graph: inout Graph) -> [Node]? {
        guard let conv = node.op as? Conv, node.outputs.count == 1, node.inputs.count >= 2, isOneDimensional(node, graph),
            let x = node.inputs[0], let wID = node.inputs[1], let w = graph.constants[wID], w.shape.count == 3,
            let xs = graph.type(of: x).shape, let ys = graph.type(of: node.outputs[0]).shape, ys.count == 3
        else { return nil }
        let dtype = graph.type(of: x).dtype
        let name = graph.name(of: node.outputs[0])
        func target(_ dims: [Int]) -> ValueID {
            graph.addConstant(Tensor(.i64, shape: [dims.count], int64s: dims.map(Int64.init)), name: "\(node.name).rows")
        }
        guard let filter = try? Tensor(w.dtype, shape: [w.shape[0], w.shape[1], 1, w.shape[2]], bytes: w.bytes()) else {
            return nil
        }
        let image = graph.addValue(graph.uniqueName("\(name).image"), TensorType(dtype, [xs[0], xs[1], .known(1), xs[2]]))
        let rows = graph.addValue(graph.uniqueName("\(name).rows"), TensorType(dtype, [ys[0], ys[1], .known(1), ys[2]]))
        let bias = node.inputs.count > 2 ? node.inputs[2] : nil
        return [
            Node(name: node.name, op: Reshape(), inputs: [x, target([0, 0, 1, -1])], outputs: [image]),
            Node(name: node.name, op: Conv(window: conv.window.prependingUnitAxes(1), group: conv.group),
                 inputs: [image, graph.addConstant(filter, name: "\(node.name).filter")] + (bias.map { [$0] } ?? []),
                 outputs: [rows]),
            Node(name: node.name, op: Reshape(), inputs: [rows, target([0, 0, -1])], outputs: node.outputs),
        ]
    }
}
