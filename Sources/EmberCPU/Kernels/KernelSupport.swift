import EmberIR

/// A value handed to the threads of `Parallel.forEach`: raw pointers are not `Sendable`, but the
/// kernels that share them write disjoint parts.
struct Shared<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension KernelNode {
    /// An error for a kernel's run, naming this node.
    func error(_ code: EmberError.Code, _ message: String) -> EmberError {
        EmberError(code, "[\(op.name)] \(message)", at: location)
    }
}

extension Array where Element == TensorView? {
    /// Input `i`, which must be present.
    func required(_ i: Int, _ op: String) throws -> TensorView {
        guard i < count, let view = self[i] else {
            throw EmberError(.invalidArgument, "[\(op)] input \(i) is required")
        }
        return view
    }
}

/// The number of pieces a loop of `count` items, each of about `itemCost` elements of work, is
/// split into: one per thread, but none smaller than about 16K elements.
func chunkCount(_ count: Int, itemCost: Int) -> Int {
    max(1, min(Parallel.threadCount, count, count * max(itemCost, 1) / 16384))
}
