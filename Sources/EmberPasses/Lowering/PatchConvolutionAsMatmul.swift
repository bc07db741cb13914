import EmberIR
import EmberOps

/// A convolution whose windows tile the image exactly (stride equal to the kernel, no padding,
/// no dilation, one group: ViT's patch embedding) as the matrix product it is: the image cut
/// into patches by a reshape and a transpose, one gemm with the flattened filter, and a
/// transpose back to channels-first.
///
///     %y = conv(%x, %w, %b) {kernel_shape = [16, 16], strides = [16, 16]} : f16[32,768,14,14]
///     ->  reshape, transpose, gemm(%patches, %w2d, %b) {transB = 1}, reshape, transpose
///
/// A lowering for backends whose matrix products outrun their convolutions at this shape (the
/// CUDA backend); it needs the batch and image size known, so it runs on specialized graphs.
public struct PatchConvolutionAsMatmul: Pass {
    public static let name = "patch-convolution-as-matmul"
    public init() {}

    public func run(_ graph: inout Graph) throws -> Bool {
        try graph.replacingNodes(lower)
    }

    private func lower(_ node: Node, _ graph: inout Graph) throws -> [Node]? {
        guard let conv = node.op as? Conv, node.outputs.count == 1, node.inputs.count >= 2,
            let x = node.inputs[0], let wID = node.inputs[1], let w = graph.constants[wID], w.shape.count == 4,
            let xs = graph.type(of: x).knownShape, xs.count == 4, conv.group == 1
        else { return nil }
        let bias = node.inputs.count > 2 ? node.inputs[2] : nil
        if let bias, graph.constants[bias] == nil { return nil }
        let window = conv.window
        let (o, c, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        guard window.kernelShape.isEmpty || window.kernelShape == [kh, kw], window.strides(2) == [kh, kw],
            window.pads.allSatisfy({ $0 == 0 }), window.dilations.allSatisfy({ $0 == 1 }),
            window.autoPad == .notSet || window.autoPad == .valid,
            xs[1] == c, xs[2] % kh == 0, xs[3] % kw == 0, kh * kw > 1
        else { return nil }
        let (n, hp, wp) = (xs[0], xs[2] / kh, xs[3] / kw)
        let dtype = graph.type(of: x).dtype
        func shape(_ dims: [Int]) -> ValueID {
            graph.addConstant(Tensor(.i64, shape: [dims.count], int64s: dims.map(Int64.init)), name: "\(node.name).patch_shape")
        }
        func value(_ suffix: String, _ dims: [Int]) -> ValueID {
            graph.addValue(graph.uniqueName("\(graph.name(of: node.outputs[0])).\(suffix)"), TensorType(dtype, known: dims))
        }
        let filter = graph.addConstant(try Tensor(w.dtype, shape: [o, c * kh * kw], bytes: w.bytes()), name: "\(node.name).filter")
        let cut = value("cut", [n, c, hp, kh, wp, kw])
        let patches = value("patches", [n, hp, wp, c, kh, kw])
        let rows = value("rows", [n * hp * wp, c * kh * kw])
        let product = value("product", [n * hp * wp, o])
        let grid = value("grid", [n, hp, wp, o])
        return [
            Node(name: node.name, op: Reshape(), inputs: [x, shape([n, c, hp, kh, wp, kw])], outputs: [cut]),
            Node(name: node.name, op: Transpose(perm: [0, 2, 4, 1, 3, 5]), inputs: [cut], outputs: [patches]),
            Node(name: node.name, op: Reshape(), inputs: [patches, shape([n * hp * wp, c * kh * kw])], outputs: [rows]),
            Node(name: node.name, op: Gemm(transB: true), inputs: [rows, filter] + (bias.map { [$0] } ?? []), outputs: [product]),
            Node(name: node.name, op: Reshape(), inputs: [product, shape([n, hp, wp, o])], outputs: [grid]),
            Node(name: node.name, op: Transpose(perm: [0, 3, 1, 2]), inputs: [grid], outputs: node.outputs),
        ]
    }
}
