import EmberIR
import EmberOps

/// Groups of nodes that one fused node can replace: a root elementwise node and the elementwise
/// nodes (and at most one anchor) whose results only the group reads.
///
/// Roots are taken from the end of the graph backwards; a group grows from its root towards the
/// graph's inputs, taking a producer only when every use of its result is inside the group and the
/// result is not a graph output. So a value read outside the group stays materialized, no work is
/// done twice, and every path out of the group leaves through the root: the fused node can sit at
/// the root's position.
struct FusionGroups {
    /// Ops whose result an epilogue can transform inside the same kernel. A name list rather than
    /// a trait: whether a backend has fused epilogues for an op is a property of backends, and
    /// `linear` may or may not be defined.
    static let anchors: Set<String> = ["conv", "conv_transpose", "matmul", "gemm", "linear"]

    struct Group {
        /// The node whose result the fused node produces.
        var root: Int
        /// The anchor, when the group has one.
        var anchor: Int?
        /// Every node of the group, in graph order, the anchor and the root included.
        var members: [Int]
    }

    /// The groups of `graph`; with `anchors` false no group takes a non-elementwise node.
    static func find(in graph: Graph, anchors allowAnchors: Bool) -> [Group] {
        let nodes = graph.nodes
        let producers = graph.producers()
        var consumers = [[Int]](repeating: [], count: graph.values.count)
        for (index, node) in nodes.enumerated() {
            for case let id? in node.inputs { consumers[id.index].append(index) }
        }
        var isOutput = [Bool](repeating: false, count: graph.values.count)
        for id in graph.outputs { isOutput[id.index] = true }

        var assigned = [Bool](repeating: false, count: nodes.count)
        // The root of the group a node belongs to or was considered for, so markers need no clearing.
        var memberOf = [Int](repeating: -1, count: nodes.count)
        var visitedFor = [Int](repeating: -1, count: nodes.count)
        var groups: [Group] = []

        for root in nodes.indices.reversed() where !assigned[root] && isFusibleRoot(nodes[root], graph) {
            var members = [root]
            memberOf[root] = root
            var anchor: Int?
            var candidates = MaxHeap()
            func pushProducers(of index: Int) {
                for case let id? in nodes[index].inputs {
                    if let p = producers[id.index], !assigned[p], visitedFor[p] != root { candidates.push(p) }
                }
            }
            pushProducers(of: root)
            // Candidates come out in decreasing position, so every consumer of a candidate has been
            // decided when it comes out.
            while let p = candidates.pop() {
                guard visitedFor[p] != root else { continue }
                visitedFor[p] = root
                let node = nodes[p]
                guard node.outputs.count == 1, let result = node.outputs.first, !isOutput[result.index],
                    consumers[result.index].allSatisfy({ memberOf[$0] == root })
                else { continue }
                if isElementwise(node) {
                    // A producer of the anchor's operands cannot follow it in the fused steps.
                    if let anchor, consumers[result.index].contains(anchor) { continue }
                    memberOf[p] = root
                    members.append(p)
                    pushProducers(of: p)
                } else if allowAnchors, anchor == nil, anchors.contains(node.op.name),
                    // An epilogue runs on the anchor's result in place: it may not broadcast it larger.
                    !broadcastsLarger(graph.type(of: result).shape, to: graph.type(of: nodes[root].outputs[0]).shape)
                {
                    memberOf[p] = root
                    members.append(p)
                    anchor = p
                }
            }
            if let anchor {
                members = chained(members, anchor: anchor, nodes: nodes, producers: producers)
            }
            for m in members { assigned[m] = true }
            guard members.count > 1 else { continue }
            groups.append(Group(root: root, anchor: anchor, members: members.sorted()))
        }
        return groups.reversed()
    }

    /// An anchored group's members without the elementwise work beside the anchor's result when
    /// that work is itself the epilogue of another product (SwiGLU's `silu(gate(x)) * up(x)`):
    /// left out, it forms a group of its own with that product as anchor, so each product gets a
    /// chain of steps off its own result, which every backend's epilogues run (oneDNN's post-ops
    /// take nothing else), for the same memory traffic.
    private static func chained(_ members: [Int], anchor: Int, nodes: [Node], producers: [Int?]) -> [Int] {
        let order = members.sorted()
        var transformsAnchor: Set<Int> = [anchor]
        for m in order where m != anchor {
            let reads = nodes[m].inputs.compactMap { $0.flatMap { producers[$0.index] } }
            if reads.contains(where: transformsAnchor.contains) { transformsAnchor.insert(m) }
        }
        let beside = order.filter { !transformsAnchor.contains($0) }
        let readsProduct = beside.contains { m in
            nodes[m].inputs.contains { id in
                id.flatMap { producers[$0.index] }.map { anchors.contains(nodes[$0].op.name) } ?? false
            }
        }
        return readsProduct ? order.filter(transformsAnchor.contains) : members
    }

    /// Whether a value of shape `from` would be broadcast to a larger `to`: a different rank, a dim
    /// of 1 that becomes another size, or two different known sizes. Symbolic and unknown dims are
    /// taken to match, as the elementwise ops between them require at run time.
    static func broadcastsLarger(_ from: [Dim]?, to: [Dim]?) -> Bool {
        guard let from, let to else { return true }
        guard from.count == to.count else { return true }
        return zip(from, to).contains { a, b in
            switch (a, b) {
            case (.known(let x), .known(let y)): x != y
            case (.known(1), _): true
            default: false
            }
        }
    }

    /// Elementwise ops of one result, and elementwise fused nodes (whose steps get inlined).
    static func isElementwise(_ node: Node) -> Bool {
        node.op.traits.contains(.elementwise) && node.outputs.count == 1
    }

    /// A root computes floating point values: integer and bool arithmetic is index and shape
    /// bookkeeping, which fusion would not speed up.
    static func isFusibleRoot(_ node: Node, _ graph: Graph) -> Bool {
        isElementwise(node) && node.outputs.first.map { graph.type(of: $0).dtype.isFloatingPoint } == true
    }

    /// The fused node that computes `group`: its steps in graph order (the anchor first), its inputs
    /// the values the group reads from outside in order of first use, its output the root's result.
    /// Nil when the steps do not infer types (then the group stays as it is).
    static func fusedNode(_ group: Group, in graph: Graph) -> Node? {
        let nodes = graph.nodes
        let order = group.anchor.map { a in [a] + group.members.filter { $0 != a } } ?? group.members
        var stepOf: [ValueID: Int] = [:]
        var inputs: [ValueID] = []
        var inputIndex: [ValueID: Int] = [:]
        func operand(_ id: ValueID?) -> FusedBody.Operand? {
            guard let id else { return nil }
            if let k = stepOf[id] { return .step(k) }
            if let i = inputIndex[id] { return .input(i) }
            inputIndex[id] = inputs.count
            inputs.append(id)
            return .input(inputs.count - 1)
        }
        var steps: [FusedBody.Step] = []
        for index in order {
            let node = nodes[index]
            guard let result = node.outputs.first else { return nil }
            if let body = FusedOps.body(of: node.op) {
                let base = steps.count
                for (k, inner) in body.steps.enumerated() {
                    let operands = inner.operands.map { o -> FusedBody.Operand? in
                        switch o {
                        case nil: nil
                        case .input(let i)?: i < node.inputs.count ? operand(node.inputs[i]) : nil
                        case .step(let j)?: .step(base + j)
                        }
                    }
                    let name = k == body.steps.count - 1 ? graph.name(of: result) : inner.name
                    steps.append(FusedBody.Step(op: inner.op, operands: operands, name: name, location: inner.location))
                }
            } else {
                steps.append(FusedBody.Step(
                    op: node.op, operands: node.inputs.map(operand), name: graph.name(of: result), location: node.name))
            }
            stepOf[result] = steps.count - 1
        }
        steps[steps.count - 1].name = ""
        do {
            let body = try FusedBody(steps, op: group.anchor == nil ? FusedElementwise.name : FusedEpilogue.name)
            let op: any Operator = try group.anchor == nil ? FusedElementwise(body) : FusedEpilogue(body)
            let types = try op.inferTypes(
                OpInputs(op.name, types: inputs.map { graph.type(of: $0) }, constants: inputs.map { graph.constants[$0] }),
                outputCount: 1)
            guard let type = types.first, type.dtype == graph.type(of: nodes[group.root].outputs[0]).dtype else {
                return nil
            }
            return Node(
                name: nodes[group.anchor ?? group.root].name, op: op, inputs: inputs,
                outputs: nodes[group.root].outputs)
        } catch {
            return nil
        }
    }

    /// Replaces each group by its fused node; returns whether any was replaced. The results fused
    /// away give up their names, so that unfusing can give them back.
    static func fuse(_ groups: [Group], in graph: inout Graph) -> Bool {
        var replacements: [Int: Node] = [:]
        var removed: Set<Int> = []
        var freed: [ValueID] = []
        for group in groups {
            guard let node = fusedNode(group, in: graph) else { continue }
            replacements[group.root] = node
            for m in group.members where m != group.root {
                removed.insert(m)
                freed.append(contentsOf: graph.nodes[m].outputs)
            }
        }
        guard !replacements.isEmpty else { return false }
        graph.nodes = graph.nodes.enumerated().compactMap { index, node in
            if let fused = replacements[index] { return fused }
            return removed.contains(index) ? nil : node
        }
        for id in freed { graph.rename(id, to: graph.uniqueName(graph.name(of: id) + ".fused")) }
        return true
    }
}

/// A heap of node positions that gives the largest first.
struct MaxHeap {
    private var items: [Int] = []

    mutating func push(_ x: Int) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] < items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var i = 0
        while true {
            let (l, r) = (2 * i + 1, 2 * i + 2)
            var largest = i
            if l < items.count, items[l] > items[largest] { largest = l }
            if r < items.count, items[r] > items[largest] { largest = r }
            guard largest != i else { return top }
            items.swapAt(i, largest)
            i = largest
        }
    }
}
