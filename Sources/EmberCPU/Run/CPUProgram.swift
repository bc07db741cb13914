import EmberIR
import EmberOps

/// A graph made runnable on the CPU: a kernel per node from the best provider that runs it, every
/// value's layout, conversions between layouts, the constants in one aligned pool, and a memory plan
/// per input shape. Immutable once built, so many threads run one program at once; each run borrows
/// an execution context that owns its memory.
///
///     let program = try CPUProgram(graph, providers: CPUBackend.providers)
///     let outputs = try program.run(["x": x])
public final class CPUProgram: @unchecked Sendable {
    /// The graph the program runs, without the constants its kernels hold copies of their own of
    /// (packed weights); `completeGraph()` gives them back.
    public let graph: Graph
    public let partition: Partition
    let layout: ProgramLayout
    /// Constant tensors by slot, for shape arithmetic; they own the bytes kernels read.
    let constants: [Int: Tensor]
    /// Where each constant's bytes are, by the index `Slot.Source.constant` holds.
    private let constantAddresses: [UnsafeMutableRawPointer]
    /// The address of constants with no elements, and of those only their kernels' copies hold.
    private static let empty = AlignedMemory(byteCount: 64)
    /// Memory plans by input shapes, the most recently used kept (nil: shapes depend on data).
    private let plans: Locked<BoundedCache<[[Int]], MemoryPlan?>>
    private let idle = Locked<[ExecutionContext]>([])

    /// Builds kernels for every node of `graph`. Nodes whose op is in `fallbackOps` run on the last
    /// provider (the reference kernels). A weight that every kernel reading it packs into a copy of
    /// its own is let go as soon as it is packed, so the program never holds it twice: pass the
    /// graph with `consume` for its memory to go. `packed` has the packed copy of each of the
    /// graph's held constants (from an engine file), which kernels take as they are.
    /// `planCapacity` is how many input shapes keep their memory plan ready.
    public init(
        _ graph: consuming Graph, providers: [any CPUKernelProvider], fallbackOps: Set<String> = [],
        packed: [ValueID: PackedConstant] = [:], planCapacity: Int = PlanCacheCapacity.current
    ) throws {
        plans = Locked(BoundedCache(capacity: planCapacity))
        var graph = consume graph
        partition = try Partition.placing(&graph, providers: providers, fallbackOps: fallbackOps)
        let ids = (graph.constantIDs + graph.heldConstants).sorted()
        let indices = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let weights = try Self.packedWeights(packed, of: graph)
        layout = try ProgramLayout(&graph, partition: partition, providers: providers, constantIndices: indices, packed: weights)

        // Kernels read constants where the graph's tensors hold them: those tensors are never
        // mutated, and the program keeps them alive, so their storage stays put.
        constants = Dictionary(uniqueKeysWithValues: graph.constants.map { ($0.key.index, $0.value) })
        constantAddresses = ids.map { id in
            graph.constants[id]?.withUnsafeRawBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress) } ?? Self.empty.pointer
        }
        self.graph = graph

        // A graph with known input shapes is planned now, so its first run does no planning.
        let known = self.graph.inputs.compactMap { self.graph.type(of: $0).knownShape }
        if known.count == self.graph.inputs.count { _ = try plan(for: known) }
    }

    /// The packed copies of the graph's held constants, checked, as kernels take them.
    private static func packedWeights(_ packed: [ValueID: PackedConstant], of graph: Graph) throws -> [ValueID: PackedWeights] {
        guard !graph.heldConstants.isEmpty else { return [:] }
        if case .unavailable(let reason) = OneDNN.status {
            throw EmberError(.unsupported, "the engine's weights are packed for oneDNN, which this machine lacks: \(reason)")
        }
        var weights: [ValueID: PackedWeights] = [:]
        for id in graph.heldConstants {
            guard let stored = packed[id], let shape = graph.type(of: id).knownShape, graph.type(of: id).dtype == .f32,
                  let count = Tensor.elementCount(shape), count <= stored.bytes.count / 4
            else {
                throw EmberError(.invalidModel, "the packed weight '\(graph.name(of: id))' is missing or smaller than its type")
            }
            do {
                weights[id] = try PackedWeights(
                    shape: shape, packed: AlignedBuffer(borrowing: stored.bytes, owner: stored.owner),
                    format: try MemoryDesc.decoded(stored.format, elements: count),
                    plainDesc: try MemoryDesc.decoded(stored.plain, elements: count))
            } catch let error as EmberError {
                throw error.located("packed weight '\(graph.name(of: id))'")
            }
        }
        return weights
    }

    /// The graph with every constant, those the kernels hold rebuilt from their copies, except
    /// those in `held` (keys of `packedConstants`), which stay held (`Graph.heldConstants`).
    public func completeGraph(holding held: Set<ValueID> = []) throws -> Graph {
        var complete = graph
        for (id, owner) in layout.ownedConstants {
            if held.contains(id) {
                complete.heldConstants.insert(id)
            } else {
                complete.heldConstants.remove(id)
                complete.constants[id] = try layout.steps[owner.step].kernel.restoredConstant(at: owner.input)
            }
        }
        return complete
    }

    /// The packed copy of each constant a kernel keeps one of that an engine file can store.
    public var packedConstants: [ValueID: PackedConstant] {
        layout.ownedConstants.compactMapValues { owner in layout.steps[owner.step].kernel.packedConstant(at: owner.input) }
    }

    /// The constants only the kernels' copies hold.
    public var kernelOwnedConstants: Set<ValueID> { Set(layout.ownedConstants.keys) }

    func constantAddress(_ index: Int) -> UnsafeMutableRawPointer { constantAddresses[index] }

    /// The provider that runs each step, in run order, with conversions: for reports.
    public var steps: [(location: String, provider: String)] { layout.steps.map { ($0.location, $0.provider) } }

    /// The implementation each graph node runs for inputs of `inputShapes` (graph input order), in
    /// node order, with those of the layout conversions after it; nil when shapes depend on data.
    public func implementations(for inputShapes: [[Int]]) throws -> [(node: KernelImplementation, conversions: [KernelImplementation])]? {
        guard let shapes = try ShapeSweep.shapes(layout, constants: constants, inputShapes: inputShapes) else { return nil }
        var result: [(node: KernelImplementation, conversions: [KernelImplementation])] = []
        for step in layout.steps {
            let implementation = step.kernel.implementation(for: step.inputs.map { $0.map { shapes[$0] } })
            if step.op == nil, !result.isEmpty {
                result[result.count - 1].conversions.append(implementation)
            } else {
                result.append((implementation, []))
            }
        }
        return result
    }

    /// The number of layout conversions the planner inserted.
    public var conversionCount: Int { layout.steps.filter { $0.op == nil }.count }

    /// The arena bytes a run with these input shapes uses, or nil when its shapes depend on data.
    public func arenaSize(for inputShapes: [[Int]]) throws -> Int? { try plan(for: inputShapes)?.arenaSize }

    /// How many input shapes have a memory plan ready now (at most the capacity it was built with).
    public var cachedPlanCount: Int { plans.withLock { $0.count } }

    // MARK: Running

    /// Runs on inputs in caller memory (graph input order, plain layout). `output` is asked for the
    /// memory of each output (its position, dtype and shape) and must return at least that many bytes;
    /// the results are written there.
    public func run(
        _ inputs: [TensorView], profile: StepProfile? = nil,
        output: (_ index: Int, _ dtype: DType, _ shape: [Int]) throws -> UnsafeMutableRawPointer
    ) throws {
        try check(inputs)
        let context = idle.withLock { $0.popLast() } ?? ExecutionContext()
        defer { idle.withLock { $0.append(context) } }
        if let plan = try plan(for: inputs.map(\.shape)) {
            try runPlanned(plan, inputs, context: context, profile: profile, output: output)
        } else {
            try runUnplanned(inputs, context: context, output: output)
        }
    }

    /// Runs on named tensors and returns the outputs by name, in the graph's order.
    public func run(_ inputs: [String: Tensor], profile: StepProfile? = nil) throws -> [(name: String, tensor: Tensor)] {
        try graph.checkInputs(inputs)
        // The copies live in `memory` until the run is over.
        var memory: [AlignedMemory] = []
        let views = graph.inputs.map { id in
            let tensor = inputs[graph.name(of: id)]!
            let copy = AlignedMemory(byteCount: tensor.count * tensor.dtype.byteSize, alignment: MemoryPlan.alignment)
            memory.append(copy)
            let view = TensorView(data: copy.pointer, dtype: tensor.dtype, shape: tensor.shape)
            view.copy(from: tensor)
            return view
        }
        var results: [(dtype: DType, shape: [Int], memory: AlignedMemory)] = []
        try run(views, profile: profile) { _, dtype, shape in
            let bytes = try TensorSize.byteCount(shape, dtype, of: "output \(graph.name(of: graph.outputs[results.count]))")
            let result = AlignedMemory(byteCount: bytes, alignment: MemoryPlan.alignment)
            results.append((dtype, shape, result))
            return result.pointer
        }
        return try withExtendedLifetime(memory) {
            try zip(graph.outputs, results).map { id, result in
                (graph.name(of: id), try Tensor(result.dtype, shape: result.shape, bytes: UnsafeRawBufferPointer(result.memory.bytes)))
            }
        }
    }

    private func check(_ inputs: [TensorView]) throws {
        guard inputs.count == graph.inputs.count else {
            throw EmberError(.invalidArgument, "expected \(graph.inputs.count) inputs, received \(inputs.count)")
        }
        var shapes: [String: (dtype: DType, shape: [Int])] = [:]
        for (id, view) in zip(graph.inputs, inputs) { shapes[graph.name(of: id)] = (view.dtype, view.shape) }
        try graph.checkInputs(shapes: shapes)
    }

    /// The memory plan for these input shapes, made on first use; nil when shapes depend on data.
    private func plan(for inputShapes: [[Int]]) throws -> MemoryPlan? {
        if let cached = plans.withLock({ $0[inputShapes] }) { return cached }
        let shapes = try ShapeSweep.shapes(layout, constants: constants, inputShapes: inputShapes)
        if let shapes { try checkSizes(shapes) }
        let plan = shapes.map { MemoryPlan(layout, shapes: $0) }
        if let plan { try MemoryLimit.check(plan.arenaSize, for: "a run with input shapes \(inputShapes) (its buffers together)") }
        plans.withLock { $0[inputShapes] = plan }
        return plan
    }

    /// Refuses shapes whose sizes overflow or whose single buffers exceed the memory limit, before
    /// the memory plan adds them up.
    private func checkSizes(_ shapes: [[Int]]) throws {
        for (slot, shape) in zip(layout.slots, shapes) {
            let what = "value '\(slot.name)' (\(slot.type.dtype)\(shape))"
            try MemoryLimit.check(try TensorSize.byteCount(shape, slot.type.dtype, of: what), for: what)
        }
    }

    private func runPlanned(
        _ plan: MemoryPlan, _ inputs: [TensorView], context: ExecutionContext, profile: StepProfile?,
        output: (Int, DType, [Int]) throws -> UnsafeMutableRawPointer
    ) throws {
        let arena = context.arena(bytes: plan.arenaSize)
        let outputs = try layout.outputSlots.enumerated().map { position, slot in
            try output(position, layout.slots[slot].type.dtype, plan.shapes[slot])
        }
        func address(_ slot: Int) -> UnsafeMutableRawPointer {
            switch layout.slots[slot].source {
            case .input(let position): inputs[position].data
            case .constant(let index): constantAddress(index)
            case .computed: plan.directOutputs[slot].map { outputs[$0] } ?? arena + plan.offsets[slot]!
            }
        }
        func view(_ slot: Int) -> TensorView {
            TensorView(data: address(slot), dtype: layout.slots[slot].type.dtype, shape: plan.shapes[slot], layout: layout.slots[slot].layout)
        }
        let clock = ContinuousClock()
        for (index, step) in layout.steps.enumerated() {
            let start = profile == nil ? nil : clock.now
            do {
                try step.kernel.run(step.inputs.map { $0.map(view) }, step.outputs.map(view), context.kernels)
            } catch let error as EmberError {
                throw error.located(step.location)
            }
            if let start { profile?.add(step: index, clock.now - start) }
        }
        for (position, slot) in layout.outputSlots.enumerated() where plan.directOutputs[slot] != position {
            outputs[position].copyMemory(from: address(slot), byteCount: view(slot).byteCount)
        }
    }
}
