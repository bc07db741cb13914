import Foundation

/// The memory one run works in: the arena its memory plan lays values out in, and what its kernels
/// borrow. A context serves one run at a time; a program keeps idle contexts for later runs so their
/// memory is reused instead of allocated (and faulted in) again.
final class ExecutionContext: @unchecked Sendable {
    private(set) var arena: UnsafeMutableRawPointer?
    private var arenaSize = 0
    let kernels = KernelContext()

    deinit { arena?.deallocate() }

    /// An arena of at least `bytes` bytes; its contents are not kept when it grows.
    func arena(bytes: Int) -> UnsafeMutableRawPointer {
        if arena == nil || bytes > arenaSize {
            arena?.deallocate()
            arenaSize = max(bytes, 64)
            arena = UnsafeMutableRawPointer.allocate(byteCount: arenaSize, alignment: MemoryPlan.alignment)
        }
        return arena!
    }
}

/// A value guarded by a lock, for the caches that runs on many threads share.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
