import EmberIR
import Foundation

/// The memory one run works in: the arena its memory plan lays values out in, and what its kernels
/// borrow. A context serves one run at a time; a program keeps idle contexts for later runs so their
/// memory is reused instead of allocated (and faulted in) again.
final class ExecutionContext: @unchecked Sendable {
    private var arenaMemory: AlignedMemory?
    let kernels = KernelContext()

    /// An arena of at least `bytes` bytes; its contents are not kept when it grows.
    func arena(bytes: Int) -> UnsafeMutableRawPointer {
        if let arenaMemory, bytes <= arenaMemory.byteCount { return arenaMemory.pointer }
        let grown = AlignedMemory(byteCount: max(bytes, 64), alignment: MemoryPlan.alignment)
        arenaMemory = grown
        return grown.pointer
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
