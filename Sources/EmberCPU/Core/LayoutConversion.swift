import EmberIR

/// Copies a tensor between the plain and the channel-blocked layout; the planner inserts one where a
/// value's layout differs from the one a consumer reads. The padding channels of a blocked result
/// are zero, as oneDNN expects.
public struct LayoutConversion: CPUKernel {
    public let from: CPULayout
    public let to: CPULayout

    public init(from: CPULayout, to: CPULayout) {
        self.from = from
        self.to = to
    }

    public func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        guard let source = inputs[0] else { return }
        let destination = outputs[0]
        let elementSize = source.dtype.byteSize
        switch (from, to) {
        case (.plain, .plain):
            destination.data.copyMemory(from: source.data, byteCount: source.byteCount)
        case (.plain, .channelBlocked(let block)):
            Self.block(source, into: destination, block: block, elementSize: elementSize, toBlocked: true)
        case (.channelBlocked(let block), .plain):
            Self.block(destination, into: source, block: block, elementSize: elementSize, toBlocked: false)
        case (.channelBlocked(let a), .channelBlocked(let b)):
            throw EmberError(.internalError, "no conversion between blocked\(a)c and blocked\(b)c")
        }
    }

    /// Moves every element between `plain` and `blocked` (in the direction `toBlocked` says), one
    /// (image, channel block) pair per task.
    private static func block(_ plain: TensorView, into blocked: TensorView, block: Int, elementSize: Int, toBlocked: Bool) {
        let shape = plain.shape
        let batch = shape[0], channels = shape[1]
        let spatial = shape.dropFirst(2).reduce(1, *)
        let blocks = (channels + block - 1) / block
        let plainBase = plain.data, blockedBase = blocked.data
        if toBlocked { blocked.data.initializeMemory(as: UInt8.self, repeating: 0, count: blocked.byteCount) }
        Parallel.forEach(batch * blocks, grain: 1) { tasks in
            for task in tasks {
                let n = task / blocks, b = task % blocks
                let width = min(block, channels - b * block)
                for c in 0..<width {
                    let plainRow = plainBase + ((n * channels + b * block + c) * spatial) * elementSize
                    let blockedRow = blockedBase + ((n * blocks + b) * spatial * block + c) * elementSize
                    switch elementSize {
                    case 4: strided(UInt32.self, plainRow, blockedRow, spatial, block, toBlocked)
                    case 2: strided(UInt16.self, plainRow, blockedRow, spatial, block, toBlocked)
                    case 8: strided(UInt64.self, plainRow, blockedRow, spatial, block, toBlocked)
                    default: strided(UInt8.self, plainRow, blockedRow, spatial, block, toBlocked)
                    }
                }
            }
        }
    }

    /// Moves `count` elements between a contiguous plain row and a blocked row of stride `block`.
    @inline(__always)
    private static func strided<T>(
        _: T.Type, _ plain: UnsafeMutableRawPointer, _ blocked: UnsafeMutableRawPointer, _ count: Int, _ block: Int, _ toBlocked: Bool
    ) {
        let p = plain.assumingMemoryBound(to: T.self), q = blocked.assumingMemoryBound(to: T.self)
        if toBlocked {
            for s in 0..<count { q[s * block] = p[s] }
        } else {
            for s in 0..<count { p[s] = q[s * block] }
        }
    }
}
