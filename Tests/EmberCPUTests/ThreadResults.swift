import Foundation

/// What each of several threads computed, written from those threads. A thread whose repeated
/// runs disagree with each other, or that failed, reads back as nil.
final class ThreadResults<Value: Equatable>: @unchecked Sendable {
    private var values: [Value?]
    private var inconsistent: Set<Int> = []
    private let lock = NSLock()

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Value?) {
        lock.withLock {
            guard !inconsistent.contains(index) else { return }
            if value == nil || (values[index] != nil && values[index] != value) {
                inconsistent.insert(index)
                values[index] = nil
            } else {
                values[index] = value
            }
        }
    }

    func get(_ index: Int) -> Value? { lock.withLock { values[index] } }
}
