import EmberIR
import EmberOps

/// A read-only view of a graph for pattern matching: who produces each value, how often it is
/// used, and the constants behind values, looking through ops that change nothing.
///
/// Built once per sweep; rewrites collected during a sweep are applied together by `Rewriter`.
struct MatchView {
    let graph: Graph
    let producers: [Int?]
    let uses: [Int]

    init(_ graph: Graph) {
        self.graph = graph
        producers = graph.producers()
        uses = graph.useCounts()
    }

    /// The index of the node producing `value`, if a node does.
    func producerIndex(_ value: ValueID?) -> Int? { value.flatMap { producers[$0.index] } }

    /// The node producing `value`, if a node does.
    func producer(_ value: ValueID?) -> Node? { producerIndex(value).map { graph.nodes[$0] } }

    /// The producer of `value` when it is an op of type `T`, with its index.
    func match<T: Operator>(_ value: ValueID?, _ type: T.Type) -> (index: Int, node: Node, op: T)? {
        guard let index = producerIndex(value), let op = graph.nodes[index].op as? T else { return nil }
        return (index, graph.nodes[index], op)
    }

    func type(_ value: ValueID) -> TensorType { graph.type(of: value) }

    /// `value` with ops that return their input unchanged skipped: identity, dropout (inference),
    /// a cast to the dtype it already has, a concat of one input.
    func skipNoOps(_ value: ValueID) -> ValueID {
        var current = value
        for _ in 0..<16 {
            guard let index = producerIndex(current), let next = noOpInput(of: graph.nodes[index]) else { break }
            current = next
        }
        return current
    }

    /// The nodes `skipNoOps` walked through from `value`, outermost first.
    func noOpChain(_ value: ValueID) -> [Int] {
        var chain: [Int] = []
        var current = value
        for _ in 0..<16 {
            guard let index = producerIndex(current), let next = noOpInput(of: graph.nodes[index]) else { break }
            chain.append(index)
            current = next
        }
        return chain
    }

    private func noOpInput(of node: Node) -> ValueID? {
        guard node.outputs.count == 1, let input = node.inputs.first ?? nil else { return nil }
        switch node.op {
        case is Identity:
            return input
        case is Dropout:
            // Inference dropout passes its input through unless training mode is on.
            guard node.inputs.count > 2, let training = node.inputs[2] else { return input }
            return graph.constant(training)?.bools() == [false] ? input : nil
        case let cast as Cast:
            return type(input).dtype == cast.to ? input : nil
        case is Concat:
            return node.inputs.count == 1 ? input : nil
        default:
            return nil
        }
    }

    /// The constant behind `value`, through identities.
    func constant(_ value: ValueID?) -> Tensor? {
        guard let value else { return nil }
        return graph.constant(skipNoOps(value))
    }

    /// The single element of a constant with one element (any shape), as a `Double`.
    func scalar(_ value: ValueID?) -> Double? {
        guard let t = constant(value), t.count == 1, t.dtype.isFloatingPoint || t.dtype.isInteger else { return nil }
        return t.scalarDouble
    }

    /// Whether `value` is a constant scalar close to `expected`.
    func isScalar(_ value: ValueID?, _ expected: Double, tolerance: Double = 1e-6) -> Bool {
        guard let s = scalar(value) else { return false }
        return Self.close(s, expected, tolerance: tolerance)
    }

    static func close(_ a: Double, _ b: Double, tolerance: Double = 1e-6) -> Bool {
        abs(a - b) <= tolerance * max(abs(b), 1e-30) || a == b
    }

    /// Whether `value` feeds only the nodes in `pattern` (counting repeats) and is no graph output.
    func usedOnlyBy(_ value: ValueID, _ pattern: [Int]) -> Bool {
        guard !graph.isGraphOutput(value) else { return false }
        var inside = 0
        for index in Set(pattern) {
            inside += graph.nodes[index].inputs.filter { $0 == value }.count
        }
        return inside == uses[value.index]
    }

    /// Whether every node of `pattern` other than `root` has results used only inside the pattern,
    /// so the pattern can be replaced as a whole.
    func isClosed(_ pattern: [Int], root: Int) -> Bool {
        for index in Set(pattern) where index != root {
            for output in graph.nodes[index].outputs where !usedOnlyBy(output, pattern) { return false }
        }
        return true
    }

    /// The two operands of a binary op, in both orders, for commutative matching.
    static func orders(_ node: Node) -> [(ValueID, ValueID)] {
        guard node.inputs.count == 2, let a = node.inputs[0], let b = node.inputs[1] else { return [] }
        return [(a, b), (b, a)]
    }

    /// The factors of a product: `value` broken through `mul` nodes (and `div` by constant
    /// scalars) that are used only inside it, with the constant scalars multiplied into `scale`.
    ///
    ///     mul(mul(x, 0.5), y)  ->  scale 0.5, factors [x, y]
    func product(_ value: ValueID, depth: Int = 4) -> (scale: Double, factors: [ValueID], nodes: [Int]) {
        var scale = 1.0
        var factors: [ValueID] = []
        var nodes: [Int] = []
        func visit(_ v: ValueID, _ level: Int, root: Bool) {
            if let s = scalar(v) {
                scale *= s
                return
            }
            if level < depth, let index = producerIndex(v), root || (uses[v.index] == 1 && !graph.isGraphOutput(v)) {
                let node = graph.nodes[index]
                if node.op is Mul, node.inputs.count == 2, let a = node.inputs[0], let b = node.inputs[1] {
                    nodes.append(index)
                    visit(a, level + 1, root: false)
                    visit(b, level + 1, root: false)
                    return
                }
                if node.op is Div, node.inputs.count == 2, let a = node.inputs[0], let d = scalar(node.inputs[1]), d != 0 {
                    nodes.append(index)
                    scale /= d
                    visit(a, level + 1, root: false)
                    return
                }
            }
            factors.append(v)
        }
        visit(value, 0, root: true)
        return (scale, factors, nodes)
    }

    /// The axes of a reduction node (its axes input or every axis), normalized, if known.
    func reducedAxes(_ node: Node, rank: Int) -> [Int]? {
        if node.inputs.count > 1, let axesValue = node.inputs[1] {
            guard let axes = constant(axesValue)?.ints(), !axes.isEmpty else { return nil }
            let normalized = axes.map { $0 < 0 ? $0 + rank : $0 }
            guard normalized.allSatisfy({ $0 >= 0 && $0 < rank }), Set(normalized).count == normalized.count else { return nil }
            return normalized.sorted()
        }
        return Array(0..<rank)
    }

    /// Whether reduction `node` keeps dims and reduces exactly the trailing axes from `first` on.
    func reducesTrailing(_ node: Node, keepdims: Bool, rank: Int) -> Int? {
        guard keepdims, let axes = reducedAxes(node, rank: rank), let first = axes.first,
              axes == Array(first..<rank) else { return nil }
        return first
    }
}

/// Replacements collected during one sweep over a graph, applied together.
///
/// Each rewrite replaces the node at `root` by `nodes`, which must define the root's results (by
/// the same value ids, so names and graph outputs stay), and removes the nodes in `remove`.
struct Rewriter {
    private var replacements: [Int: [Node]] = [:]
    private var removed: Set<Int> = []
    /// Nodes some rewrite already claimed; patterns must not overlap.
    private(set) var claimed: Set<Int> = []

    var isEmpty: Bool { replacements.isEmpty && removed.isEmpty }

    /// Whether none of `indices` is claimed by an earlier rewrite of this sweep.
    func isFree(_ indices: [Int]) -> Bool { indices.allSatisfy { !claimed.contains($0) } }

    /// Replaces node `root` by `nodes` and removes `remove` (the root may be listed there too).
    mutating func replace(_ root: Int, with nodes: [Node], removing remove: [Int]) {
        replacements[root] = nodes
        for index in remove where index != root { removed.insert(index) }
        claimed.insert(root)
        claimed.formUnion(remove)
    }

    /// The graph with every rewrite applied, then unused constants dropped.
    func apply(to graph: inout Graph) {
        guard !isEmpty else { return }
        var nodes: [Node] = []
        nodes.reserveCapacity(graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            if let replacement = replacements[index] {
                nodes.append(contentsOf: replacement)
            } else if !removed.contains(index) {
                nodes.append(node)
            }
        }
        graph.nodes = nodes
        graph.removeUnusedConstants()
    }
}

/// A pass made of a match function tried at every node, last node first (so the outermost op
/// of a pattern is tried before the ops inside it), repeated until nothing more matches.
protocol PatternPass: Pass {
    /// Tries to rewrite the pattern rooted at node `index`; records the rewrite and returns true on a match.
    func rewrite(at index: Int, in view: MatchView, graph: inout Graph, rewriter: inout Rewriter) throws -> Bool
}

extension PatternPass {
    public func run(_ graph: inout Graph) throws -> Bool {
        var changed = false
        for _ in 0..<8 {
            let view = MatchView(graph)
            var rewriter = Rewriter()
            var scratch = graph
            for index in graph.nodes.indices.reversed() where !rewriter.claimed.contains(index) {
                _ = try rewrite(at: index, in: view, graph: &scratch, rewriter: &rewriter)
            }
            guard !rewriter.isEmpty else { break }
            graph = scratch
            rewriter.apply(to: &graph)
            changed = true
        }
        return changed
    }
}

extension Graph {
    /// A new node result of `type`, named after `base` with `suffix`.
    mutating func addResult(_ base: ValueID, _ suffix: String, _ type: TensorType) -> ValueID {
        addValue(name(of: base) + suffix, type)
    }

    /// A new constant named after `base` with `suffix`.
    mutating func addConstant(_ tensor: Tensor, after base: ValueID, _ suffix: String) -> ValueID {
        addConstant(tensor, name: name(of: base) + suffix)
    }
}
