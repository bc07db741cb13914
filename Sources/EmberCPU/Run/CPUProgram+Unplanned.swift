import EmberIR
import EmberOps

extension CPUProgram {
    /// Runs input shapes whose value shapes depend on data (a `nonzero`, a reshape to a computed
    /// shape that no sweep could evaluate): each value gets its own allocation when its step runs,
    /// with its shape inferred from the actual inputs, and is freed after its last reader.
    func runUnplanned(
        _ inputs: [TensorView], context: ExecutionContext,
        output: (Int, DType, [Int]) throws -> UnsafeMutableRawPointer
    ) throws {
        let slots = layout.slots
        var views = [TensorView?](repeating: nil, count: slots.count)
        var owned: [Int: AlignedMemory] = [:]
        for (index, slot) in slots.enumerated() {
            switch slot.source {
            case .input(let position): views[index] = inputs[position]
            case .constant(let constant):
                views[index] = TensorView(data: constantAddress(constant), dtype: slot.type.dtype, shape: constants[index]?.shape ?? slot.type.knownShape ?? [])
            case .computed: break
            }
        }
        // Outputs live past the last step, so they are never freed here.
        let lifetimes = Liveness.lifetimes(
            count: slots.count,
            steps: layout.steps.map { StepAccess(reads: $0.inputs.compactMap { $0 }, writes: $0.outputs) },
            outputs: layout.outputSlots)

        // The bytes of the buffers alive now, kept under the memory limit as each one is allocated.
        var liveBytes = 0
        var ownedBytes: [Int: Int] = [:]
        func allocate(_ slot: Int, shape: [Int]) throws -> TensorView {
            let what = "value '\(slots[slot].name)' (\(slots[slot].type.dtype)\(shape))"
            _ = try TensorSize.byteCount(shape, slots[slot].type.dtype, of: what)
            let bytes = slots[slot].layout.byteCount(shape: shape, dtype: slots[slot].type.dtype)
            try MemoryLimit.check(liveBytes + bytes, for: liveBytes == 0 ? what : "\(what), with the \(MemoryLimit.describe(liveBytes)) alive before it,")
            liveBytes += bytes
            ownedBytes[slot] = bytes
            let memory = AlignedMemory(byteCount: bytes, alignment: MemoryPlan.alignment)
            owned[slot] = memory
            let view = TensorView(data: memory.pointer, dtype: slots[slot].type.dtype, shape: shape, layout: slots[slot].layout)
            views[slot] = view
            return view
        }

        for (position, step) in layout.steps.enumerated() {
            do {
                let arguments = step.inputs.map { $0.flatMap { views[$0] } }
                if let shapes = try outputShapes(step, arguments) {
                    let results = try zip(step.outputs, shapes).map { try allocate($0, shape: $1) }
                    try step.kernel.run(arguments, results, context.kernels)
                } else {
                    // Data decides the shape: the op's own evaluation finds it.
                    let tensors = try arguments.map { try $0?.tensor() }
                    // The sizes the values imply are checked before the op allocates them.
                    let inferred = try step.op!.inferTypes(
                        OpInputs(step.op!.name, types: tensors.map { $0?.type }, constants: tensors),
                        outputCount: step.outputs.count)
                    for (slot, type) in zip(step.outputs, inferred) {
                        guard let shape = type.knownShape else { continue }
                        let what = "value '\(slots[slot].name)' (\(type.dtype)\(shape))"
                        let bytes = try TensorSize.byteCount(shape, type.dtype, of: what)
                        try MemoryLimit.check(liveBytes + bytes, for: liveBytes == 0 ? what : "\(what), with the \(MemoryLimit.describe(liveBytes)) alive before it,")
                    }
                    let results = try step.op!.evaluate(tensors, outputCount: step.outputs.count)
                    for (slot, tensor) in zip(step.outputs, results) {
                        try allocate(slot, shape: tensor.shape).copy(from: tensor)
                    }
                }
            } catch let error as EmberError {
                throw error.located(step.location)
            }
            for case let slot? in step.inputs where lifetimes[slot]?.last == position {
                owned.removeValue(forKey: slot)
                liveBytes -= ownedBytes.removeValue(forKey: slot) ?? 0
                views[slot] = nil
            }
        }
        for (index, slot) in layout.outputSlots.enumerated() {
            let view = views[slot]!
            let destination = try output(index, view.dtype, view.shape)
            destination.copyMemory(from: view.data, byteCount: view.byteCount)
        }
        withExtendedLifetime(owned) {}
    }

    /// The shapes of a step's outputs from its actual inputs, or nil when only running it tells.
    private func outputShapes(_ step: Step, _ arguments: [TensorView?]) throws -> [[Int]]? {
        guard let op = step.op else { return [arguments[0]!.shape] }
        let types = arguments.map { $0.map { TensorType($0.dtype, known: $0.shape) } }
        let values = try arguments.map { view -> Tensor? in
            guard let view, view.dtype.isInteger, view.layout == .plain, view.count <= ShapeSweep.maxEvaluatedElements else { return nil }
            return try view.tensor()
        }
        let inferred = try op.inferTypes(OpInputs(op.name, types: types, constants: values), outputCount: step.outputs.count)
        var shapes: [[Int]] = []
        for type in inferred {
            guard let shape = type.knownShape else { return nil }
            shapes.append(shape)
        }
        return shapes
    }
}
