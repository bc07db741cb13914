import EmberIR
import EmberOps

/// Ember's own vectorized kernels for everything but convolutions and matrix products: fused
/// elementwise chains, normalizations, softmax, attention, reductions and data movement. Every
/// input and output is `.plain`, but for concats along the channels, which also join
/// channel-blocked tensors.
///
///     let provider = EmberKernels()
///     if provider.support(node).isSupported { let kernel = try provider.makeKernel(node) }
public struct EmberKernels: CPUKernelProvider {
    public init() {}

    public var name: String { "ember" }

    public func support(_ node: KernelNode) -> KernelSupport {
        do {
            _ = try build(node)
            return .supported
        } catch let error as EmberError {
            return .unsupported(error.message)
        } catch {
            return .unsupported("\(error)")
        }
    }

    /// A concat along the channels of channel-blocked inputs writes a blocked result, so that the
    /// convolutions and pools around it (Inception, Fire, dense blocks) pass blocked tensors
    /// through it, with no conversion.
    public func preferredLayout(_ node: KernelNode, output index: Int) -> CPULayout {
        guard let block = OneDNN.channelBlock, ConcatKernel.joinsChannels(node),
              node.inputLayouts.allSatisfy({ $0 == .channelBlocked(block) })
        else { return .plain }
        return .channelBlocked(block)
    }

    public func accepts(_ node: KernelNode, input index: Int, layout: CPULayout) -> Bool {
        layout == .plain || (layout == OneDNN.channelBlock.map { .channelBlocked($0) } && ConcatKernel.joinsChannels(node))
    }

    public func inPlaceInput(_ node: KernelNode, output index: Int) -> Int? {
        guard index == 0, let input = node.inputTypes.first ?? nil, let output = node.outputTypes.first,
            input.dtype == output.dtype
        else { return nil }
        // Reshapes copy bytes in order, so any buffer of the right size serves; the normalizations
        // read a whole row (or channel group) before writing it.
        if CopyKernel.handles(node.op) || Self.rowsInPlace(node.op) { return 0 }
        // Elementwise ops read each position before writing it, when input 0 is not broadcast:
        // its shape must be the output's, with no dim unknown (two unknown dims may differ).
        guard node.op.traits.contains(.elementwise), let shape = input.shape, shape == output.shape,
            !shape.contains(.unknown)
        else { return nil }
        return 0
    }

    /// Ops whose kernels finish reading each row before they write it. Not `log_softmax`, which
    /// reads its input again after writing the exponentials.
    private static func rowsInPlace(_ op: any Operator) -> Bool {
        op is Softmax || op is LayerNorm || op is RMSNorm || op is BatchNorm || op is InstanceNorm || op is GroupNorm
    }

    public func makeKernel(_ node: KernelNode) throws -> any CPUKernel {
        do {
            return try build(node)
        } catch let error as EmberError {
            throw error.located(node.location)
        }
    }

    /// The kernel for `node`, or an error whose message says why there is none.
    private func build(_ node: KernelNode) throws -> any CPUKernel {
        if node.op is Concat, ConcatKernel.joinsChannels(node) { return try ConcatKernel(node) }
        for (i, layout) in node.inputLayouts.enumerated() where layout != .plain {
            throw EmberError.op(node.op.name, "input \(i) is \(layout), expected plain", code: .unsupported)
        }
        for (i, layout) in node.outputLayouts.enumerated() where layout != .plain {
            throw EmberError.op(node.op.name, "output \(i) is \(layout), expected plain", code: .unsupported)
        }
        switch node.op {
        case _ where CopyKernel.handles(node.op): return try CopyKernel(node)
        case is Softmax, is LogSoftmax: return try SoftmaxKernel(node)
        case is LayerNorm, is RMSNorm: return try RowNormKernel(node)
        case is Attention: return try AttentionKernel(node)
        case is Transpose: return try TransposeKernel(node)
        case is Concat: return try ConcatKernel(node)
        case is SliceOp: return try SliceKernel(node)
        case is Gather: return try GatherKernel(node)
        case is Split: return try SplitKernel(node)
        case is Expand: return try ExpandKernel(node)
        case is Where: return try WhereKernel(node)
        case is Cast: return try CastKernel(node)
        case is Pad: return try PadKernel(node)
        case is Tile: return try TileKernel(node)
        case is Resize: return try ResizeKernel(node)
        case is BatchNorm, is InstanceNorm, is GroupNorm: return try ChannelNormKernel(node)
        case is any AxesReduction: return try ReduceKernel(node)
        case is any ArgReduction: return try ArgReduceKernel(node)
        default: break
        }
        if node.op.traits.contains(.elementwise) {
            guard node.outputTypes.count == 1 else {
                throw EmberError.op(node.op.name, "expected one output", code: .unsupported)
            }
            return ElementwiseKernel(program: try ElementwiseProgram(node), node: node)
        }
        throw EmberError.op(node.op.name, "Ember's own kernels do not run this op", code: .unsupported)
    }
}
