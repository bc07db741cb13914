import EmberDNNL
import EmberIR
import EmberOps

/// `max_pool`, `average_pool` and the global pools as oneDNN's pooling primitive.
struct PoolBuilder: PlanBuilder {
    let node: KernelNode
    let algorithm: dnnl_alg_kind_t
    /// nil for the global pools, whose window is the whole input.
    let window: WindowAttributes?

    init(_ node: KernelNode) throws {
        self.node = node
        switch node.op {
        case is MaxPool, is GlobalMaxPool:
            algorithm = dnnl_pooling_max
        case let op as AveragePool:
            algorithm = op.countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding
        default:
            algorithm = dnnl_pooling_avg_exclude_padding
        }
        window = (node.op as? MaxPool)?.window ?? (node.op as? AveragePool)?.window
    }

    func plan(_ shapes: [[Int]?]) throws -> Plan {
        guard let xs = shapes[0], xs.count >= 3 else { throw EmberError(.unsupported, "pooling needs X of rank 3 or more") }
        let spatial = Array(xs.dropFirst(2))
        let n = spatial.count
        var output = Array(repeating: 1, count: n), begin = Array(repeating: 0, count: n), end = begin
        var kernel = spatial, strides = Array(repeating: 1, count: n), dilations = Array(repeating: 0, count: n)
        if let window {
            kernel = window.kernelShape
            let g = try OneDNNWindow(window, input: spatial, kernel: kernel, op: node.op.name)
            if algorithm == dnnl_pooling_avg_include_padding, g.padded.contains(true) {
                throw EmberError(.unsupported, "average_pool with count_include_pad whose ceil_mode windows pass the padding")
            }
            (output, begin, end) = (g.output, g.begin, g.end)
            (strides, dilations) = (g.strides, g.dilations)
        }
        let dims = Array(xs.prefix(2)) + output
        var src = try MemoryDesc.make(xs, node.inputLayouts[0])
        let result = try MemoryDesc.make(dims, node.outputLayouts[0])
        // oneDNN's fast pools keep the input's layout; a change of layout is a reorder after.
        let changesLayout = node.inputLayouts[0] != node.outputLayouts[0]
        var dst = changesLayout ? try MemoryDesc.make(dims, node.inputLayouts[0]) : result
        var desc = dnnl_pooling_v2_desc_t()
        try OneDNN.check(
            ember_dnnl_pooling_v2_forward_desc_init(
                &desc, dnnl_forward_inference, algorithm, &src, &dst, strides.map(Int64.init), kernel.map(Int64.init),
                dilations.map(Int64.init), begin.map(Int64.init), end.map(Int64.init)),
            "describing \(node.op.name) of \(xs)")
        let primitive = try Primitive(desc, attributes: try PrimitiveAttributes(), what: "creating \(node.op.name) of \(xs)")
        return Plan(
            primitive,
            [
                Binding(arg: DNNL_ARG_SRC, desc: src, source: .input(0)),
                Binding(arg: DNNL_ARG_DST, desc: dst, source: changesLayout ? .intermediate : .output(0)),
            ],
            reorder: changesLayout ? (try Reorder.make(from: dst, to: result), dst, result) : nil)
    }
}
