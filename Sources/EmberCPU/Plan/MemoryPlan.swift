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

        // Lifetimes in step positions: written at `first`, last read at `last`.
        var first = [Int](repeating: -1, count: slots.count)
        var last = [Int](repeating: -1, count: slots.count)
        for (position, step) in layout.steps.enumerated() {
            for case let slot? in step.inputs { last[slot] = position }
            for slot in step.outputs {
                first[slot] = position
                last[slot] = max(last[slot], position)
            }
        }

        // Buffers: each computed arena slot starts its own, unless it may take over an input's.
        var buffer = [Int](repeating: -1, count: slots.count)
        var bufferBytes: [Int] = []
        var bufferFirst: [Int] = []
        var bufferLast: [Int] = []
        let inArena = { (slot: Int) -> Bool in
            if case .computed = slots[slot].source { return direct[slot] == nil }
            return false
        }
        for (position, step) in layout.steps.enumerated() {
            for (k, slot) in step.outputs.enumerated() where inArena(slot) {
                if let j = step.inPlace[k], j < step.inputs.count, let source = step.inputs[j], inArena(source),
                   !isOutput.contains(source), last[source] == position, bytes[source] == bytes[slot],
                   slots[source].layout == slots[slot].layout, !step.outputs.contains(source),
                   step.inputs.filter({ $0 == source }).count == 1
                {
                    let b = buffer[source]
                    buffer[slot] = b
                    bufferLast[b] = max(bufferLast[b], last[slot])
                    continue
                }
                buffer[slot] = bufferBytes.count
                bufferBytes.append(bytes[slot])
                bufferFirst.append(first[slot])
                bufferLast.append(max(last[slot], position))
            }
        }

        // Largest first, each at the lowest offset clear of every placed buffer alive at the same time.
        var bufferOffset = [Int](repeating: 0, count: bufferBytes.count)
        var placed: [Int] = []
        var size = 0
        for b in bufferBytes.indices.sorted(by: { bufferBytes[$0] > bufferBytes[$1] }) {
            let length = Self.align(bufferBytes[b])
            let busy = placed
                .filter { bufferFirst[$0] <= bufferLast[b] && bufferFirst[b] <= bufferLast[$0] }
                .map { (start: bufferOffset[$0], end: bufferOffset[$0] + Self.align(bufferBytes[$0])) }
                .sorted { $0.start < $1.start }
            var offset = 0
            for range in busy where range.start < offset + length {
                offset = max(offset, range.end)
            }
            bufferOffset[b] = offset
            placed.append(b)
            size = max(size, offset + length)
        }
        offsets = slots.indices.map { buffer[$0] >= 0 ? bufferOffset[buffer[$0]] : nil }
        arenaSize = size
    }

    static func align(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}
