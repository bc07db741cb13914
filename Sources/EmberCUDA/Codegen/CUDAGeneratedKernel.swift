import EmberIR

/// CUDA C++ for one kernel, with the launch shape it was written for. Shapes are constants in
/// the source, so the compiler folds the index arithmetic; the kernel's parameters are the
/// input buffers, then the output buffers.
public struct CUDAGeneratedKernel: Sendable, Equatable {
    public var source: String
    /// The `extern "C"` function to launch.
    public var entry: String
    public var blocks: Int
    public var threadsPerBlock: Int
    public var sharedBytes: Int = 0
    /// The node's present inputs the kernel takes, by position; nil for all of them. A reduction
    /// reads its axes when it is planned, not when it runs.
    public var reads: [Int]? = nil
}

/// How a tensor's elements lie in its device buffer.
public enum CUDALayout: String, Hashable, Sendable {
    /// In the order of the dims: NCHW for images.
    case rowMajor = "row-major"
    /// Channels innermost: a 4-D [N, C, H, W] is stored as [N, H, W, C] (and a filter [K, C, R, S]
    /// as [K, R, S, C]), the layout cuDNN's tensor-core convolutions read and write.
    case channelsLast = "channels-last"
}

/// A tensor shape with its dtype and layout, all dims known: what a kernel is specialized for.
/// The shape is always the logical one (NCHW for images); `storedShape` is the buffer's order.
public struct CUDATensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]
    /// `.channelsLast` applies to 4-D tensors only.
    public var layout: CUDALayout
    public init(_ dtype: DType, _ shape: [Int], layout: CUDALayout = .rowMajor) {
        self.dtype = dtype
        self.shape = shape
        self.layout = shape.count == 4 ? layout : .rowMajor
    }
    public var count: Int { shape.reduce(1, *) }
    /// The dims in the order the buffer holds them.
    public var storedShape: [Int] {
        layout == .channelsLast ? [shape[0], shape[2], shape[3], shape[1]] : shape
    }
    /// The same tensor in `layout`.
    public func with(_ layout: CUDALayout) -> CUDATensorType { CUDATensorType(dtype, shape, layout: layout) }
    public var description: String { "\(dtype)\(shape)" + (layout == .rowMajor ? "" : " \(layout.rawValue)") }
}
