import Dispatch
import Foundation

/// Splitting loops over the machine's cores for Ember's own kernels.
public enum Parallel {
    /// The number of threads Ember's kernels use: `EMBER_NUM_THREADS` when set, else every core.
    public static let threadCount: Int = {
        if let text = ProcessInfo.processInfo.environment["EMBER_NUM_THREADS"], let n = Int(text), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Calls `body` with disjoint ranges that together cover `0..<count`, on up to `threadCount`
    /// threads; ranges hold at least `grain` items, so small loops stay on the calling thread.
    /// `body` runs concurrently with itself: it must only write what its range owns.
    public static func forEach(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threadCount, max(1, count / max(grain, 1)))
        if chunks == 1 { return body(0..<count) }
        let part = { (chunk: Int) in body(count * chunk / chunks..<count * (chunk + 1) / chunks) }
        // oneDNN's kernels run on OpenMP's threads, which spin a while after each kernel before
        // they sleep. Ember's kernels run on the same threads where it can, so the two never
        // compete for the cores, and a loop right after a oneDNN kernel finds its threads awake.
        if OneDNN.onOpenMPThreads(chunks, part) { return }
        withoutActuallyEscaping(part) { part in
            let shared = SharedBody(body: part)
            DispatchQueue.concurrentPerform(iterations: chunks) { shared.body($0) }
        }
    }

    /// Items `0..<count` handed out `grain` at a time to whichever thread asks next, for loops whose
    /// threads may be slowed unevenly (by other work on their cores): each takes runs as it
    /// finishes the last, so one slow thread does not hold up the whole loop.
    final class ItemQueue: @unchecked Sendable {
        private let lock = NSLock()
        private var start = 0
        let count: Int, grain: Int

        init(count: Int, grain: Int) { (self.count, self.grain) = (count, grain) }

        /// The next run of items, or nil when every item is taken.
        func next() -> Range<Int>? {
            lock.lock()
            defer { lock.unlock() }
            guard start < count else { return nil }
            let run = start..<min(count, start + grain)
            start = run.upperBound
            return run
        }
    }

    /// A loop body handed to the worker threads; each call writes only what its part owns.
    private struct SharedBody: @unchecked Sendable {
        let body: (Int) -> Void
    }
}
