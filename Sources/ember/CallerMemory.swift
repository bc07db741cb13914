import EmberCPU
import EmberIR
import EmberRuntime

/// Inputs and outputs in memory the caller allocates once and reuses, as a program calling the C
/// API or the Python package does: `ember bench` times CPU runs on it, so the table shows the
/// engine and not copies of tensors into and out of it (nor the page faults of fresh buffers).
final class CallerMemory {
    private let engine: Engine
    private let inputs: [TensorView]
    /// The memory behind `inputs`.
    private let inputMemory: [AlignedMemory]
    private var outputs: [(memory: AlignedMemory, dtype: DType, shape: [Int])?]

    /// `tensors` by the engine's input names, copied once into aligned memory.
    init(_ engine: Engine, _ tensors: [String: Tensor]) throws {
        self.engine = engine
        var memory: [AlignedMemory] = []
        inputs = try engine.inputs.map { input in
            guard let tensor = tensors[input.name] else {
                throw EmberError(.invalidArgument, "no value for input '\(input.name)'")
            }
            let bytes = try TensorSize.byteCount(tensor.shape, tensor.dtype, of: "input '\(input.name)'")
            memory.append(AlignedMemory(byteCount: bytes))
            let view = TensorView(data: memory[memory.count - 1].pointer, dtype: tensor.dtype, shape: tensor.shape)
            view.copy(from: tensor)
            return view
        }
        inputMemory = memory
        outputs = Array(repeating: nil, count: engine.outputs.count)
    }

    /// One run, writing into the outputs of the last run where they are large enough.
    func run() throws {
        try engine.run(inputs) { index, dtype, shape in
            let what = "output '\(engine.outputs[index].name)' (\(dtype)\(shape))"
            let bytes = try TensorSize.byteCount(shape, dtype, of: what)
            if let buffer = outputs[index], buffer.memory.byteCount >= bytes {
                outputs[index] = (buffer.memory, dtype, shape)
                return buffer.memory.pointer
            }
            try MemoryLimit.check(bytes, for: what)
            let memory = AlignedMemory(byteCount: bytes)
            outputs[index] = (memory, dtype, shape)
            return memory.pointer
        }
    }

    /// The last run's outputs, by name.
    func results() throws -> [(name: String, tensor: Tensor)] {
        try zip(engine.outputs, outputs).map { output, buffer in
            guard let buffer else { throw EmberError(.internalError, "output '\(output.name)' was never written") }
            let bytes = try TensorSize.byteCount(buffer.shape, buffer.dtype, of: "output '\(output.name)'")
            return (output.name, try Tensor(buffer.dtype, shape: buffer.shape, bytes: UnsafeRawBufferPointer(start: buffer.memory.pointer, count: bytes)))
        }
    }
}
