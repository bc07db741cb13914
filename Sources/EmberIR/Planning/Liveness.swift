/// The steps during which a value must keep its bytes: from the first step that touches it (its
/// definition) to the last (its last reader), both included.
public struct Lifetime: Hashable, Sendable {
    public var first: Int
    public var last: Int

    public init(first: Int, last: Int) {
        self.first = first
        self.last = last
    }

    /// Whether the two share a step, so their values cannot share bytes.
    public func overlaps(_ other: Lifetime) -> Bool { first <= other.last && other.first <= last }

    /// The steps of both: a buffer that two values hold in turn.
    public func union(_ other: Lifetime) -> Lifetime {
        Lifetime(first: min(first, other.first), last: max(last, other.last))
    }
}

/// What one step of a program does with values, by their index: for liveness.
public struct StepAccess: Sendable {
    public var reads: [Int]
    public var writes: [Int]

    public init(reads: [Int], writes: [Int]) {
        self.reads = reads
        self.writes = writes
    }
}

/// When each value of a program is alive. Every backend plans its memory and frees its values
/// from these lifetimes: the CPU's memory plan and its runs whose shapes depend on data, the CUDA
/// executor's arena and the reference backend.
public enum Liveness {
    /// Each value's lifetime over `steps`, run in order (positions 0..<steps.count); nil for values
    /// no step, input or output touches. `inputs` are defined before the first step (position -1);
    /// `outputs` are read after the last (position `steps.count`), so they live to the end.
    ///
    ///     // y = relu(x) at step 0, z = exp(y) at step 1, z is the output:
    ///     Liveness.lifetimes(count: 3, steps: [.init(reads: [0], writes: [1]), .init(reads: [1], writes: [2])],
    ///                        inputs: [0], outputs: [2])
    ///     // [-1...0, 0...1, 1...2]
    public static func lifetimes(count: Int, steps: [StepAccess], inputs: [Int] = [], outputs: [Int] = []) -> [Lifetime?] {
        var lifetimes = [Lifetime?](repeating: nil, count: count)
        func touch(_ value: Int, _ position: Int) {
            let here = Lifetime(first: position, last: position)
            lifetimes[value] = lifetimes[value].map { $0.union(here) } ?? here
        }
        for value in inputs { touch(value, -1) }
        for (position, step) in steps.enumerated() {
            for value in step.writes { touch(value, position) }
            for value in step.reads { touch(value, position) }
        }
        for value in outputs { touch(value, steps.count) }
        return lifetimes
    }

    /// The lifetime of each of `graph`'s values (by `ValueID.index`) over its nodes in order;
    /// constants are alive from the start like inputs, outputs to the end.
    public static func lifetimes(of graph: Graph) -> [Lifetime?] {
        let steps = graph.nodes.map { node in
            StepAccess(reads: node.inputs.compactMap { $0?.index }, writes: node.outputs.map(\.index))
        }
        let constants = graph.constants.keys.map(\.index).sorted()
        return lifetimes(
            count: graph.values.count, steps: steps, inputs: graph.inputs.map(\.index) + constants,
            outputs: graph.outputs.map(\.index))
    }
}
