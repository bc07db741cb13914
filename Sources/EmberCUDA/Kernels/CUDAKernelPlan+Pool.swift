import EmberIR
import EmberOps

extension CUDAKernelPlan {
    /// Whether `op` reads and writes its 4-D tensors channels-last: convolutions (cuDNN) and the
    /// pools that sit between them. Every other kernel takes row-major tensors.
    static func prefersChannelsLast(_ op: any Operator) -> Bool {
        isConvolution(op) || op is MaxPool || op is AveragePool || op is GlobalAveragePool || op is GlobalMaxPool
    }

    /// 2-D `max_pool` and `average_pool`, and `global_average_pool` and `global_max_pool`, on
    /// `[N, C, H, W]` tensors in either layout (input and output alike).
    static func pool(_ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        guard node.inputs.count == 1, let x = node.inputs[0], node.outputs.count == 1, let y = node.outputs.first else {
            return .failure(EmberError(.unsupported, "\(node.op.name) is generated with one input and one output (no indices)"))
        }
        guard CUDAPrelude.dtypes.contains(x.dtype), y.dtype == x.dtype else {
            return .failure(EmberError(.unsupported, "\(node.op.name) of \(x.dtype) is not generated; expected f32, f16 or bf16"))
        }
        guard x.shape.count == 4 else {
            return .failure(EmberError(.unsupported, "only 2-D pooling is generated; X has rank \(x.shape.count), expected [N, C, H, W]"))
        }
        guard y.layout == x.layout else {
            return .failure(EmberError(.unsupported, "X is \(x.layout.rawValue) but the output \(y.layout.rawValue); expected one layout"))
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let kind: CUDAPoolGenerator.Kind
        switch node.op {
        case is GlobalAveragePool, is GlobalMaxPool:
            kind = node.op is GlobalMaxPool ? .max : .average(countIncludePad: false)
            guard y.shape == [n, c, 1, 1] else {
                return .failure(EmberError(.unsupported, "the output \(y) is not [\(n), \(c), 1, 1]"))
            }
            if x.layout == .channelsLast { return .success(.generated(CUDAPoolGenerator.global(x, kind: kind))) }
            return .success(.generated(CUDARowGenerator.reduce(
                x.dtype, outer: n * c, length: h * w, inner: 1, combine: kind == .max ? .max : .mean)))
        case let op as AveragePool:
            kind = .average(countIncludePad: op.countIncludePad)
        case is MaxPool:
            kind = .max
        default:
            return .failure(EmberError(.unsupported, "\(node.op.name) is not a pool"))
        }
        let window: CUDAPoolWindow
        switch poolWindow(node.op.attributes, height: h, width: w) {
        case .success(let resolved): window = resolved
        case .failure(let why): return .failure(why)
        }
        guard y.shape == [n, c] + window.output else {
            return .failure(EmberError(.unsupported, "the output \(y) is not the pool's [\(n), \(c), \(window.output[0]), \(window.output[1])]"))
        }
        return .success(.generated(CUDAPoolGenerator.pool(x, y, window: window, kind: kind, multiprocessors: multiprocessors)))
    }

    /// The window of a 2-D pool from its attributes (ONNX's kernel_shape, strides, dilations,
    /// pads, auto_pad, ceil_mode) over an `height` x `width` input.
    static func poolWindow(_ attributes: Attributes, height: Int, width: Int) -> Result<CUDAPoolWindow, EmberError> {
        do {
            let empty = { (a: [Int]?) in (a ?? []).isEmpty ? nil : a }
            guard let kernel = try empty(attributes.ints("kernel_shape")), kernel.count == 2, kernel.allSatisfy({ $0 > 0 }) else {
                return .failure(EmberError(.unsupported, "expected a kernel_shape of 2 positive sizes"))
            }
            let strides = try empty(attributes.ints("strides")) ?? [1, 1]
            let dilations = try empty(attributes.ints("dilations")) ?? [1, 1]
            guard strides.count == 2, dilations.count == 2, (strides + dilations).allSatisfy({ $0 > 0 }) else {
                return .failure(EmberError(.unsupported, "expected 2 positive strides and dilations"))
            }
            let ceilMode = try attributes.bool("ceil_mode", default: false)
            let input = [height, width]
            var begin = [0, 0], end = [0, 0], output = [0, 0]
            let mode = try attributes.string("auto_pad", default: "NOTSET")
            if mode == "NOTSET", let pads = try empty(attributes.ints("pads")) {
                guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else {
                    return .failure(EmberError(.unsupported, "expected 4 pads of 0 or more, given \(pads)"))
                }
                (begin, end) = (Array(pads.prefix(2)), Array(pads.suffix(2)))
            }
            for i in 0..<2 {
                let span = (kernel[i] - 1) * dilations[i] + 1
                switch mode {
                case "NOTSET", "VALID":
                    let room = input[i] + begin[i] + end[i] - span
                    guard room >= 0 else { return .failure(EmberError(.unsupported, "the window is larger than the padded input")) }
                    if ceilMode {
                        output[i] = (room + strides[i] - 1) / strides[i] + 1
                        // The last window starts inside the input or its begin padding.
                        if (output[i] - 1) * strides[i] >= input[i] + begin[i] { output[i] -= 1 }
                    } else {
                        output[i] = room / strides[i] + 1
                    }
                case "SAME_UPPER", "SAME_LOWER":
                    output[i] = (input[i] + strides[i] - 1) / strides[i]
                    let total = max(0, (output[i] - 1) * strides[i] + span - input[i])
                    begin[i] = mode == "SAME_UPPER" ? total / 2 : total - total / 2
                    end[i] = total - begin[i]
                default:
                    return .failure(EmberError(.unsupported, "auto_pad '\(mode)' is not known"))
                }
            }
            return .success(CUDAPoolWindow(
                kernel: kernel, strides: strides, dilations: dilations, padBegin: begin, padEnd: end, output: output))
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
    }
}
