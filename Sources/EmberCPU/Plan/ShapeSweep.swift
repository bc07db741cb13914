import EmberIR
import EmberOps

/// Every slot's concrete shape for one set of input shapes, found before anything runs.
///
/// Shape arithmetic that survives optimization (a symbolic batch read with `shape`, gathered and
/// concatenated into a `reshape` target) is evaluated on the way, as small integer tensors. When a
/// shape depends on data only a run can produce (`nonzero`, say), the sweep gives up and the program
/// runs that input shape without a precomputed memory plan.
enum ShapeSweep {
    /// The largest integer tensor evaluated during the sweep.
    static let maxEvaluatedElements = 4096

    /// Shapes per slot, or nil when some shape depends on data.
    static func shapes(_ layout: ProgramLayout, constants: [Int: Tensor], inputShapes: [[Int]]) throws -> [[Int]]? {
        var shapes = [[Int]?](repeating: nil, count: layout.slots.count)
        var values = constants.filter { isShapeArithmetic($0.value.dtype) && $0.value.count <= maxEvaluatedElements }
        for (index, slot) in layout.slots.enumerated() {
            switch slot.source {
            case .input(let position): shapes[index] = inputShapes[position]
            case .constant: shapes[index] = constants[index]?.shape ?? slot.type.knownShape
            case .computed: break
            }
        }
        for step in layout.steps {
            guard let op = step.op else {
                shapes[step.outputs[0]] = step.inputs[0].flatMap { shapes[$0] }
                continue
            }
            let inputTypes = step.inputs.map { slot in
                slot.flatMap { s in shapes[s].map { TensorType(layout.slots[s].type.dtype, known: $0) } }
            }
            let known = step.inputs.map { $0.flatMap { values[$0] } }
            let types: [TensorType]
            do {
                types = try op.inferTypes(OpInputs(op.name, types: inputTypes, constants: known), outputCount: step.outputs.count)
            } catch let error as EmberError {
                throw error.located(step.location)
            }
            for (slot, type) in zip(step.outputs, types) {
                guard let shape = type.knownShape else { return nil }
                shapes[slot] = shape
            }
            if let value = try shapeValue(op, step: step, inputTypes: inputTypes, known: known, outputTypes: types) {
                values[step.outputs[0]] = value
            }
        }
        // Values the optimizer left behind are in no step; they take no memory.
        var used = Set(layout.outputSlots)
        for step in layout.steps { used.formUnion(step.outputs + step.inputs.compactMap { $0 }) }
        var result: [[Int]] = []
        for (slot, shape) in shapes.enumerated() {
            if let shape {
                result.append(shape)
            } else {
                guard !used.contains(slot) else { return nil }
                result.append([0])
            }
        }
        return result
    }

    /// Shape arithmetic is done in integers, with booleans from comparisons (`equal` into `where`).
    private static func isShapeArithmetic(_ dtype: DType) -> Bool { dtype.isInteger || dtype == .bool }

    /// The value of a small integer result computable from shapes and known values alone.
    private static func shapeValue(_ op: any Operator, step: Step, inputTypes: [TensorType?], known: [Tensor?], outputTypes: [TensorType]) throws -> Tensor? {
        guard outputTypes.count == 1, let type = outputTypes.first, isShapeArithmetic(type.dtype),
              let shape = type.knownShape, shape.reduce(1, *) <= maxEvaluatedElements
        else { return nil }
        switch op {
        case let op as EmberOps.Shape:
            guard let input = inputTypes[0]?.knownShape else { return nil }
            return try op.evaluate([Tensor(shape: input, storage: .bool([]))], outputCount: 1)[0]
        case is EmberOps.Size:
            guard let input = inputTypes[0]?.knownShape else { return nil }
            return Tensor(shape: [], int64s: [Int64(input.reduce(1, *))])
        default:
            guard zip(step.inputs, known).allSatisfy({ $0 == nil || $1 != nil }) else { return nil }
            return try op.evaluate(known, outputCount: 1).first
        }
    }
}
