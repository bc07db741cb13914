import EmberIR
import EmberOps

extension TorchOps {
    static let convolution: [String: TorchConverter] = dictionary([
        all(["aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default", "aten.convolution.default",
             "aten.conv1d.padding", "aten.conv2d.padding", "aten.conv3d.padding", "aten._convolution.default"], conv),
        all(["aten.conv_transpose1d.default", "aten.conv_transpose2d.input", "aten.conv_transpose3d.input"], { ctx in
            try convTranspose(&ctx, groups: try ctx.int("groups", default: 1), dilation: try ctx.ints("dilation", default: [1]))
        }),
        all(["aten.max_pool1d.default", "aten.max_pool2d.default", "aten.max_pool3d.default",
             "aten.max_pool2d_with_indices.default", "aten.max_pool3d_with_indices.default"], { ctx in
            try pool(&ctx, "max_pool")
        }),
        all(["aten.avg_pool1d.default", "aten.avg_pool2d.default", "aten.avg_pool3d.default"], { ctx in
            try pool(&ctx, "average_pool")
        }),
        all(["aten.adaptive_avg_pool1d.default", "aten.adaptive_avg_pool2d.default", "aten.adaptive_avg_pool3d.default",
             "aten._adaptive_avg_pool2d.default", "aten._adaptive_avg_pool3d.default"], { ctx in
            try adaptivePool(&ctx, global: "global_average_pool", window: "average_pool")
        }),
        all(["aten.adaptive_max_pool1d.default", "aten.adaptive_max_pool2d.default", "aten.adaptive_max_pool3d.default"], { ctx in
            try adaptivePool(&ctx, global: "global_max_pool", window: "max_pool")
        }),
    ])

    /// A list of `count` values from torch's int-or-list form.
    static func expand(_ v: [Int], _ count: Int) -> [Int] {
        v.count == count ? v : v.count == 1 ? [Int](repeating: v[0], count: count) : v
    }

    private static func conv(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("input")
        let w = try ctx.tensor("weight")
        let spatial = try ctx.rank(w) - 2
        let groups = try ctx.int("groups", default: 1)
        let dilation = expand(try ctx.ints("dilation", default: [1]), spatial)
        if try ctx.bool("transposed", default: false) {
            return try convTranspose(&ctx, groups: groups, dilation: dilation)
        }
        var attributes: [(String, Attribute)] = [
            ("strides", .ints(expand(try ctx.ints("stride", default: [1]), spatial))),
            ("dilations", .ints(dilation)), ("group", .int(groups)),
        ]
        if case .string(let mode)? = ctx.arg("padding") {
            switch mode {
            case "valid": attributes.append(("pads", .ints([Int](repeating: 0, count: 2 * spatial))))
            // torch puts the odd pixel at the end, as SAME_UPPER does.
            case "same": attributes.append(("auto_pad", .string("SAME_UPPER")))
            default: throw ctx.fail("padding '\(mode)' is not supported", .unsupported)
            }
        } else {
            let padding = expand(try ctx.ints("padding", default: [0]), spatial)
            attributes.append(("pads", .ints(padding + padding)))
        }
        try ctx.emitFinal("conv", [x, w, try ctx.optionalTensor("bias")], attributes)
    }

    private static func convTranspose(_ ctx: inout TorchNodeContext, groups: Int, dilation: [Int]) throws {
        let x = try ctx.tensor("input")
        let w = try ctx.tensor("weight")
        let spatial = try ctx.rank(w) - 2
        let padding = expand(try ctx.ints("padding", default: [0]), spatial)
        let attributes: [(String, Attribute)] = [
            ("strides", .ints(expand(try ctx.ints("stride", default: [1]), spatial))),
            ("dilations", .ints(expand(dilation, spatial))), ("group", .int(groups)),
            ("pads", .ints(padding + padding)),
            ("output_padding", .ints(expand(try ctx.ints("output_padding", default: [0]), spatial))),
        ]
        try ctx.emitFinal("conv_transpose", [x, w, try ctx.optionalTensor("bias")], attributes)
    }

    private static func pool(_ ctx: inout TorchNodeContext, _ name: String) throws {
        let x = try ctx.tensor("self")
        let spatial = try ctx.rank(x) - 2
        let kernel = expand(try ctx.ints("kernel_size"), spatial)
        let strideGiven = try ctx.ints("stride", default: [])
        let stride = strideGiven.isEmpty ? kernel : expand(strideGiven, spatial)
        let padding = expand(try ctx.ints("padding", default: [0]), spatial)
        var attributes: [(String, Attribute)] = [
            ("kernel_shape", .ints(kernel)), ("strides", .ints(stride)), ("pads", .ints(padding + padding)),
            ("ceil_mode", .int(try ctx.bool("ceil_mode", default: false) ? 1 : 0)),
        ]
        if name == "max_pool" {
            attributes.append(("dilations", .ints(expand(try ctx.ints("dilation", default: [1]), spatial))))
        } else {
            guard !ctx.has("divisor_override") else { throw ctx.fail("divisor_override is not supported", .unsupported) }
            attributes.append(("count_include_pad", .int(try ctx.bool("count_include_pad", default: true) ? 1 : 0)))
        }
        try ctx.emitFinal(name, [x], attributes)
    }

    /// Adaptive pooling: global when the output is 1 everywhere, else a fixed window where the
    /// input divides evenly into the output.
    private static func adaptivePool(_ ctx: inout TorchNodeContext, global: String, window: String) throws {
        let x = try ctx.tensor("self")
        let output = try ctx.ints("output_size")
        if output.allSatisfy({ $0 == 1 }) { return try ctx.emitFinal(global, [x]) }
        guard let shape = ctx.type(x).shape, shape.count == output.count + 2 else {
            throw ctx.fail("output_size \(output) does not fit the input's rank", .invalidArgument)
        }
        let sizes = shape.suffix(output.count).map(\.value)
        guard sizes.allSatisfy({ $0 != nil }) else {
            throw ctx.fail("needs the input's spatial size known at import", .unsupported)
        }
        let input = sizes.compactMap { $0 }
        if input == output { return ctx.alias(x) }
        guard zip(input, output).allSatisfy({ $1 > 0 && $0 % $1 == 0 }) else {
            throw ctx.fail("input size \(input) is not a multiple of output size \(output)", .unsupported)
        }
        let kernel = zip(input, output).map { $0 / $1 }
        try ctx.emitFinal(window, [x], [("kernel_shape", .ints(kernel)), ("strides", .ints(kernel))])
    }
}
