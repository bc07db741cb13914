import EmberIR

/// How a value's elements lie in memory on the CPU backend.
///
/// Graph inputs and outputs, and every kernel that does not say otherwise, use `.plain`. oneDNN's
/// convolutions and pools run fastest on channel-blocked tensors, so values passed between them stay
/// blocked and are converted only where a kernel that needs `.plain` reads them.
public enum CPULayout: Hashable, Sendable, CustomStringConvertible {
    /// Row-major and contiguous, the layout of `Tensor`.
    case plain
    /// Dim 1 (channels) split into blocks of `block` channels that become the innermost dim, the
    /// last block padded with zeros: oneDNN's `nCw16c`, `nChw16c`, `nCdhw16c` (or 8c). Rank 3 to 5.
    case channelBlocked(Int)

    public var description: String {
        switch self {
        case .plain: "plain"
        case .channelBlocked(let block): "blocked\(block)c"
        }
    }

    /// Whether a value of this rank can be stored in this layout.
    public func allows(rank: Int) -> Bool {
        switch self {
        case .plain: true
        case .channelBlocked: (3...5).contains(rank)
        }
    }

    /// The bytes a value of `shape` and `dtype` occupies in this layout, padding included.
    public func byteCount(shape: [Int], dtype: DType) -> Int {
        switch self {
        case .plain:
            return shape.reduce(1, *) * dtype.byteSize
        case .channelBlocked(let block):
            var padded = shape
            padded[1] = (shape[1] + block - 1) / block * block
            return padded.reduce(1, *) * dtype.byteSize
        }
    }
}
