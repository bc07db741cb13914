import EmberIR
import EmberOps

/// A group norm or an instance norm (a group norm with one group per channel, as wav2vec2's
/// feature extractor exports it) as the layer norm over rows it is: `X [N, C, S...]` viewed as
/// `[N, G, (C/G) * prod(S)]`, each row normalized with unit scale, then viewed as
/// `[N, C, prod(S)]` for the per-channel scale and bias as `[C, 1]` broadcasts, and viewed back.
///
///     %y = instance_norm(%x, %s, %b) : f16[32,512,16000]
///     ->  layer_norm(%x, ones) {axis = -1}, mul(_, %s as [512, 1]), add(_, %b as [512, 1])
///
/// A lowering for backends with a row-normalization kernel and none for these (the CUDA
/// backend); `fuse-elementwise` joins the affine steps with what follows. It needs the sizes
/// known, so it runs on specialized graphs.
public struct ChannelNormsAsLayerNorm: Pass {
    public static let name = "channel-norms-as-layer-norm"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        graph.replacingNodes(lower)
    }

    private func lower(_ node: Node, _ graph: inout Graph) -> [Node]? {
        guard node.inputs.count == 3, node.outputs.count == 1, let x = node.inputs[0], let scale = node.inputs[1],
            let bias = node.inputs[2], let xs = graph.type(of: x).knownShape, xs.count >= 2
        else { return nil }
        let groups: Int, epsilon: Double
        if let norm = node.op as? InstanceNorm {
            (groups, epsilon) = (xs[1], norm.epsilon)
        } else if let norm = node.op as? GroupNorm, norm.stashType == .f32 {
            (groups, epsilon) = (norm.numGroups, norm.epsilon)
        } else {
            return nil
        }
        let dtype = graph.type(of: x).dtype
        let (n, c, plane) = (xs[0], xs[1], Array(xs.dropFirst(2)).reduce(1, *))
        guard groups > 0, c % groups == 0 else { return nil }
        let row = c / groups * plane
        let name = graph.name(of: node.outputs[0])
        var nodes: [Node] = []
        func value(_ suffix: String, _ dims: [Int], _ type: DType = dtype) -> ValueID {
            graph.addValue(graph.uniqueName("\(name).\(suffix)"), TensorType(type, known: dims))
        }
        /// `id` viewed as `dims`: a new constant for a constant, else a reshape; `into` names the result.
        func reshaped(_ id: ValueID, _ dims: [Int], _ suffix: String, into: ValueID? = nil) -> ValueID {
            if graph.type(of: id).knownShape == dims, into == nil { return id }
            if into == nil, let constant = graph.constants[id],
                let tensor = try? Tensor(constant.dtype, shape: dims, bytes: constant.bytes())
            {
                return graph.addConstant(tensor, name: "\(name).\(suffix)")
            }
            let target = graph.addConstant(Tensor(.i64, shape: [dims.count], int64s: dims.map(Int64.init)), name: "\(name).\(suffix).shape")
            let result = into ?? value(suffix, dims, graph.type(of: id).dtype)
            nodes.append(Node(name: node.name, op: Reshape(), inputs: [id, target], outputs: [result]))
            return result
        }
        let rows = reshaped(x, [n, groups, row], "rows")
        let ones = graph.addConstant(Tensor(dtype, shape: [row], doubles: Array(repeating: 1, count: row)), name: "\(name).ones")
        let normed = value("normed", [n, groups, row])
        nodes.append(Node(name: node.name, op: LayerNorm(axis: -1, epsilon: epsilon), inputs: [rows, ones], outputs: [normed]))
        let channels = reshaped(normed, [n, c, plane], "channels")
        let scaled = value("scaled", [n, c, plane])
        nodes.append(Node(name: node.name, op: Mul(), inputs: [channels, reshaped(scale, [c, 1], "scale")], outputs: [scaled]))
        let shifted = value("shifted", [n, c, plane])
        nodes.append(Node(name: node.name, op: Add(), inputs: [scaled, reshaped(bias, [c, 1], "bias")], outputs: [shifted]))
        _ = reshaped(shifted, xs, "result", into: node.outputs[0])
        return nodes
    }
}
