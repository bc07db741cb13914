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
    public static func forEach(_ count: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(threadCount, max(1, count / max(grain, 1)))
        if chunks == 1 { return body(0..<count) }
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            body(start..<end)
        }
    }
}
