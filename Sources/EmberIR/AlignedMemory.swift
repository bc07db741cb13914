/// Raw memory at an aligned address that frees itself when the last reference to it goes: the
/// one place outside the kernels' own buffers where Ember allocates and frees bytes by hand (run
/// arenas, scratch space, the buffers a run copies inputs into and outputs out of).
///
///     let memory = AlignedMemory(byteCount: 1024)
///     memory.pointer.storeBytes(of: 1, as: Float.self)
///
/// Every allocation has at least one byte, so `pointer` is valid (never NULL) even for zero bytes.
public final class AlignedMemory: @unchecked Sendable {
    /// The first byte, a multiple of the alignment.
    public let pointer: UnsafeMutableRawPointer
    /// The bytes asked for (at least that many are there).
    public let byteCount: Int

    /// Uninitialized memory of `byteCount` bytes, aligned to `alignment` (a power of two).
    public init(byteCount: Int, alignment: Int = 64) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment)
    }

    /// The memory as a buffer of `byteCount` bytes, valid while `self` is.
    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: byteCount) }

    deinit { pointer.deallocate() }
}
