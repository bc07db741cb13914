import EmberCPU
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// A node for `op` on `inputs`: types from the tensors (or `types` where given, for symbolic
/// dims), and the inputs at `constant` marked as graph constants.
func kernelNode(
    _ op: any Operator, _ inputs: [Tensor?], types: [TensorType?]? = nil, constant: Set<Int> = [], outputs: Int = 1
) throws -> KernelNode {
    let inputTypes = types ?? inputs.map { $0?.type }
    let constants = inputs.indices.map { constant.contains($0) ? inputs[$0] : nil }
    let outputTypes = try op.inferTypes(OpInputs(op.name, types: inputTypes, constants: constants), outputCount: outputs)
    return KernelNode(op: op, name: "n", inputTypes: inputTypes, outputTypes: outputTypes, constants: constants)
}

/// Runs `kernel` on copies of `inputs` and returns its outputs, shaped like `expected`. With
/// `inPlace`, output 0 is written into input 0's buffer.
func runKernel(
    _ kernel: any CPUKernel, _ inputs: [Tensor?], expected: [Tensor], inPlace: Bool = false,
    context: KernelContext = KernelContext()
) throws -> [Tensor] {
    var owned: [UnsafeMutableRawPointer] = []
    defer { owned.forEach { $0.deallocate() } }
    func buffer(_ bytes: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        owned.append(p)
        return p
    }
    let inputViews: [TensorView?] = inputs.map { tensor in
        guard let tensor else { return nil }
        let bytes = tensor.bytes()
        let p = buffer(bytes.count)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return TensorView(data: p, dtype: tensor.dtype, shape: tensor.shape)
    }
    let outputViews: [TensorView] = expected.enumerated().map { i, t in
        if i == 0, inPlace, let input = inputViews[0] {
            return TensorView(data: input.data, dtype: t.dtype, shape: t.shape)
        }
        let bytes = t.count * t.dtype.byteSize
        let p = buffer(bytes)
        p.initializeMemory(as: UInt8.self, repeating: 0xAB, count: max(bytes, 1))
        return TensorView(data: p, dtype: t.dtype, shape: t.shape)
    }
    try kernel.run(inputViews, outputViews, context)
    return try outputViews.map { view in
        let bytes = UnsafeRawBufferPointer(start: view.data, count: view.count * view.dtype.byteSize)
        return try Tensor(view.dtype, shape: view.shape, bytes: bytes)
    }
}

/// Builds Ember's kernel for `op`, runs it on `inputs` and compares every output with the op's
/// reference evaluation: within `tolerance` relative error (0 means exact). Returns the worst error.
@discardableResult
func checkKernel(
    _ op: any Operator, _ inputs: [Tensor?], types: [TensorType?]? = nil, constant: Set<Int> = [], outputs: Int = 1,
    tolerance: Double = 1e-4, inPlace: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) throws -> Double {
    let node = try kernelNode(op, inputs, types: types, constant: constant, outputs: outputs)
    let provider = EmberKernels()
    #expect(provider.support(node) == .supported, sourceLocation: sourceLocation)
    let kernel = try provider.makeKernel(node)
    let expected = try op.evaluate(inputs, outputCount: outputs)
    let actual = try runKernel(kernel, inputs, expected: expected, inPlace: inPlace)
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        if tolerance == 0 {
            // Exact, but NaN matches NaN (Tensor's == follows IEEE and says NaN != NaN).
            let same = a == e || (a.dtype.isFloatingPoint && a.relativeError(to: e) == 0)
            #expect(same, "\(op.name) output differs", sourceLocation: sourceLocation)
        } else {
            let error = a.relativeError(to: e) ?? .infinity
            #expect(error <= tolerance, "\(op.name): relative error \(error)", sourceLocation: sourceLocation)
            worst = max(worst, error)
        }
    }
    return worst
}

/// A random f32 tensor with values in `range`.
func randomFloats(_ shape: [Int], in range: ClosedRange<Double> = -3...3, seed: UInt64 = 7) -> Tensor {
    Tensor.random(.f32, shape, in: range, seed: seed)
}

/// Shorthand for making an op from attributes in tests.
func makeOp(_ name: String, _ attributes: [(String, Attribute)] = []) throws -> any Operator {
    try OperatorRegistry.standard.make(name, Attributes(op: name, attributes))
}
