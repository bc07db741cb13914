import EmberIR
import EmberOps

/// An instance norm (and so a group norm with one group per channel, as wav2vec2's feature
/// extractor exports it) as the layer norm over rows it is: `X [N, C, S...]` viewed as
/// `[N, C, prod(S)]`, each row normalized with unit scale, then the per-channel scale and bias
/// applied as `[C, 1]` broadcasts, and the result viewed back.
///
///     %y = instance_norm(%x, %s, %b) : f16[32,512,16000]
///     ->  layer_norm(%x, ones) {axis = -1}, mul(_, %s as [512, 1]), add(_, %b as [512, 1])
///
/// A lowering for backends with a row-normalization kernel and no instance norm (the CUDA
/// backend); `fuse-elementwise` joins the affine steps with what follows. It needs the
/// spatial sizes known, so it runs on specialized graphs.
public struct InstanceNormAsLayerNorm: Pass {
    public static let name = "instance-norm-as-layer-norm"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        var nodes: [Node] = []
        var changed = false
        for node in graph.nodes {
            if let lowered = lower(node, &graph) {
                nodes += lowered
                changed = true
            } else {
                nodes.append(node)
            }
        }
        graph.nodes = nodes
        return changed
    }

    private func lower(_ node: Node, _ graph: inout Graph) -> [Node]? {
        guard let norm = node.op as? InstanceNorm, node.inputs.count == 3, node.outputs.count == 1,
            let x = node.inputs[0], let scale = node.inputs[1], let bias = node.inputs[2],
            let xs = graph.type(of: x).knownShape, xs.count >= 3
        else { return nil }
        let dtype = graph.type(of: x).dtype
        let (n, c, plane) = (xs[0], xs[1], Array(xs[2...]).reduce(1, *))
        let name = graph.name(of: node.outputs[0])
        var nodes: [Node] = []
        func value(_ suffix: String, _ dims: [Int], _ type: DType = dtype) -> ValueID {
            graph.addValue(graph.uniqueName("\(name).\(suffix)"), TensorType(type, known: dims))
        }
        func reshaped(_ id: ValueID, _ dims: [Int], _ suffix: String) -> ValueID {
            let type = graph.type(of: id)
            if let constant = graph.constants[id], let tensor = try? Tensor(constant.dtype, shape: dims, bytes: constant.bytes()) {
                return graph.addConstant(tensor, name: "\(name).\(suffix)")
            }
            let target = graph.addConstant(Tensor(.i64, shape: [dims.count], int64s: dims.map(Int64.init)), name: "\(name).\(suffix).shape")
            let result = value(suffix, dims, type.dtype)
            nodes.append(Node(name: node.name, op: Reshape(), inputs: [id, target], outputs: [result]))
            return result
        }
        let rows = xs.count == 3 ? x : reshaped(x, [n, c, plane], "rows")
        let ones = graph.addConstant(Tensor(dtype, shape: [plane], doubles: Array(repeating: 1, count: plane)), name: "\(name).ones")
        let normed = value("normed", [n, c, plane])
        nodes.append(Node(name: node.name, op: LayerNorm(axis: -1, epsilon: norm.epsilon), inputs: [rows, ones], outputs: [normed]))
        let scaled = value("scaled", [n, c, plane])
        nodes.append(Node(name: node.name, op: Mul(), inputs: [normed, reshaped(scale, [c, 1], "scale")], outputs: [scaled]))
        let shifted = xs.count == 3 ? node.outputs[0] : value("shifted", [n, c, plane])
        nodes.append(Node(name: node.name, op: Add(), inputs: [scaled, reshaped(bias, [c, 1], "bias")], outputs: [shifted]))
        if xs.count > 3 {
            let target = graph.addConstant(Tensor(.i64, shape: [xs.count], int64s: xs.map(Int64.init)), name: "\(name).shape")
            nodes.append(Node(name: node.name, op: Reshape(), inputs: [shifted, target], outputs: node.outputs))
        }
        return nodes
    }
}
