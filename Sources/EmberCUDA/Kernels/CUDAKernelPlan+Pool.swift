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
        let attributes: WindowAttributes
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
            (kind, attributes) = (.average(countIncludePad: op.countIncludePad), op.window)
        case let op as MaxPool:
            (kind, attributes) = (.max, op.window)
        default:
            return .failure(EmberError(.unsupported, "\(node.op.name) is not a pool"))
        }
        let window: CUDAPoolWindow
        switch poolWindow(attributes, height: h, width: w, op: node.op.name) {
        case .success(let resolved): window = resolved
        case .failure(let why): return .failure(why)
        }
        guard y.shape == [n, c] + window.output else {
            return .failure(EmberError(.unsupported, "the output \(y) is not the pool's [\(n), \(c), \(window.output[0]), \(window.output[1])]"))
        }
        return .success(.generated(CUDAPoolGenerator.pool(x, y, window: window, kind: kind, multiprocessors: multiprocessors)))
    }

    /// The window of a 2-D pool (its kernel_shape, strides, dilations, pads, auto_pad and
    /// ceil_mode) over an `height` x `width` input, resolved by the op's own geometry.
    static func poolWindow(_ window: WindowAttributes, height: Int, width: Int, op: String) -> Result<CUDAPoolWindow, EmberError> {
        let kernel = window.kernelShape
        guard kernel.count == 2, kernel.allSatisfy({ $0 > 0 }) else {
            return .failure(EmberError(.unsupported, "expected a kernel_shape of 2 positive sizes"))
        }
        guard window.strides(2).count == 2, window.dilations(2).count == 2 else {
            return .failure(EmberError(.unsupported, "expected 2 positive strides and dilations"))
        }
        if window.autoPad == .notSet, !window.pads.isEmpty, window.pads.count != 4 {
            return .failure(EmberError(.unsupported, "expected 4 pads of 0 or more, given \(window.pads)"))
        }
        do {
            let g = try window.geometry(input: [height, width], kernel: kernel, op: op)
            return .success(CUDAPoolWindow(
                kernel: kernel, strides: g.strides, dilations: g.dilations, padBegin: g.padBegin, padEnd: g.padEnd, output: g.output))
        } catch let error as EmberError {
            return .failure(EmberError(.unsupported, error.message))
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
    }
}
