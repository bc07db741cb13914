import EmberIR

/// Where every computed value lives during a run with one set of input shapes: a byte offset into
/// one arena, or the caller's output buffer.
///
/// Values that are never alive at the same time share bytes; a step that may write its result over
/// an input whose last reader it is (an elementwise op, a reshape) does so. Made once per input
/// shape and reused by every run with that shape.
struct MemoryPlan: Sendable {
    /// Concrete shape per slot.
    var shapes: [[Int]]
    /// Byte offset in the arena per slot; nil for slots not in the arena.
    var offsets: [Int?]
    /// Per slot, the graph output position whose caller buffer holds it, if any.
    var directOutputs: [Int?]
    var arenaSize: Int

    static let alignment = 64

    init(_ layout: ProgramLayout, shapes: [[Int]]) {
        self.shapes = shapes
        let slots = layout.slots
        let bytes = slots.indices.map { slots[$0].layout.byteCount(shape: shapes[$0], dtype: slots[$0].type.dtype) }

        // Outputs computed by a step, read once as an output, go straight to the caller's memory.
        var direct = [Int?](repeating: nil, count: slots.count)
        let outputUses = Dictionary(layout.outputSlots.map { ($0, 1) }, uniquingKeysWith: +)
        for (position, slot) in layout.outputSlots.enumerated() {
            if case .computed = slots[slot].source, outputUses[slot] == 1 { direct[slot] = position }
        }
        directOutputs = direct
        let isOutput = Set(layout.outputSlots)

        // Lifetimes in step positions: written at `first`, last read at `last`; outputs read after
        // the last step, so one that is not written straight to the caller's memory (an output
        // listed twice) keeps its bytes until it is copied out.
        let lifetimes = Liveness.lifetimes(
            count: slots.count,
            steps: layout.steps.map { StepAccess(reads: $0.inputs.compactMap { $0 }, writes: $0.outputs) },
            outputs: layout.outputSlots)
        let last = lifetimes.map { $0?.last ?? -1 }

        // Buffers: each computed arena slot starts its own, unless it may take over an input's.
        var buffer = [Int](repeating: -1, count: slots.count)
        var buffers: [ArenaRequest] = []
        let inArena = { (slot: Int) -> Bool in
            if case .computed = slots[slot].source { return direct[slot] == nil }
            return false
        }
        for (position, step) in layout.steps.enumerated() {
            for (k, slot) in step.outputs.enumerated() where inArena(slot) {
                let lifetime = lifetimes[slot] ?? Lifetime(first: position, last: position)
                if let j = step.inPlace[k], j < step.inputs.count, let source = step.inputs[j], inArena(source),
                   !isOutput.contains(source), last[source] == position, bytes[source] == bytes[slot],
                   slots[source].layout == slots[slot].layout, !step.outputs.contains(source),
                   step.inputs.filter({ $0 == source }).count == 1
                {
                    let b = buffer[source]
                    buffer[slot] = b
                    buffers[b].lifetime = buffers[b].lifetime.union(lifetime)
                    continue
                }
                buffer[slot] = buffers.count
                buffers.append(ArenaRequest(bytes: bytes[slot], lifetime: lifetime))
            }
        }

        let arena = ArenaPacker.pack(buffers, alignment: Self.alignment)
        offsets = slots.indices.map { buffer[$0] >= 0 ? arena.offsets[buffer[$0]] : nil }
        arenaSize = arena.size
    }

}
