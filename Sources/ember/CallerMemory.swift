import EmberCPU
import EmberIR
import EmberRuntime

/// Inputs and outputs in memory the caller allocates once and reuses, as a program calling the C
/// API or the Python package does: `ember bench` times CPU runs on it, so the table shows the
/// engine and not copies of tensors into and out of it (nor the page faults of fresh buffers).
final class CallerMemory {
    private let engine: Engine
    private let inputs: [TensorView]
    private var outputs: [(data: UnsafeMutableRawPointer, capacity: Int, dtype: DType, shape: [Int])?]

    /// `tensors` by the engine's input names, copied once into aligned memory.
    init(_ engine: Engine, _ tensors: [String: Tensor]) throws {
        self.engine = engine
        inputs = try engine.inputs.map { input in
            guard let tensor = tensors[input.name] else {
                throw EmberError(.invalidArgument, "no value for input '\(input.name)'")
            }
            let bytes = try TensorSize.byteCount(tensor.shape, tensor.dtype, of: "input '\(input.name)'")
            let view = TensorView(
                data: .allocate(byteCount: max(bytes, 1), alignment: 64), dtype: tensor.dtype, shape: tensor.shape)
            view.copy(from: tensor)
            return view
        }
        outputs = Array(repeating: nil, count: engine.outputs.count)
    }

    deinit {
        inputs.forEach { $0.data.deallocate() }
        outputs.forEach { $0?.data.deallocate() }
    }

    /// One run, writing into the outputs of the last run where they are large enough.
    func run() throws {
        try engine.run(inputs) { index, dtype, shape in
            let what = "output '\(engine.outputs[index].name)' (\(dtype)\(shape))"
            let bytes = try TensorSize.byteCount(shape, dtype, of: what)
            if let buffer = outputs[index], buffer.capacity >= bytes {
                outputs[index] = (buffer.data, buffer.capacity, dtype, shape)
                return buffer.data
            }
            try MemoryLimit.check(bytes, for: what)
            outputs[index]?.data.deallocate()
            let data = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
            outputs[index] = (data, bytes, dtype, shape)
            return data
        }
    }

    /// The last run's outputs, by name.
    func results() throws -> [(name: String, tensor: Tensor)] {
        try zip(engine.outputs, outputs).map { output, buffer in
            guard let buffer else { throw EmberError(.internalError, "output '\(output.name)' was never written") }
            let bytes = try TensorSize.byteCount(buffer.shape, buffer.dtype, of: "output '\(output.name)'")
            return (output.name, try Tensor(buffer.dtype, shape: buffer.shape, bytes: UnsafeRawBufferPointer(start: buffer.data, count: bytes)))
        }
    }
}
