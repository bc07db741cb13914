/// Matching concrete input tensors against a graph's declared input types.
extension Graph {
    /// Checks that `tensors` (by input name) fit the graph's inputs: every input given, none unknown,
    /// dtypes equal, known dims equal, and each symbolic dim one size across all inputs.
    /// Returns the size bound to each symbol.
    @discardableResult
    public func checkInputs(_ tensors: [String: Tensor]) throws -> [String: Int] {
        try checkInputs(shapes: tensors.mapValues { ($0.dtype, $0.shape) })
    }

    /// `checkInputs` for inputs known by dtype and shape alone.
    @discardableResult
    public func checkInputs(shapes tensors: [String: (dtype: DType, shape: [Int])]) throws -> [String: Int] {
        let declared = Set(inputs.map(name(of:)))
        for given in tensors.keys.sorted() where !declared.contains(given) {
            throw EmberError(
                .invalidArgument,
                "the model has no input named '\(given)'; its inputs are \(inputs.map { "'\(name(of: $0))'" }.joined(separator: ", "))")
        }
        var symbols: [String: (size: Int, input: String)] = [:]
        for id in inputs {
            let inputName = name(of: id)
            let expected = type(of: id)
            guard let tensor = tensors[inputName] else {
                throw EmberError(.invalidArgument, "input '\(inputName)' (\(expected)) was not given")
            }
            guard tensor.dtype == expected.dtype else {
                throw EmberError(
                    .typeMismatch, "input '\(inputName)' has dtype \(tensor.dtype), expected \(expected.dtype)")
            }
            let bytes = try TensorSize.byteCount(tensor.shape, tensor.dtype, of: "input '\(inputName)'")
            try MemoryLimit.check(bytes, for: "input '\(inputName)' (\(tensor.dtype)\(tensor.shape))")
            guard let dims = expected.shape else { continue }
            guard dims.count == tensor.shape.count else {
                throw EmberError(
                    .shapeMismatch,
                    "input '\(inputName)' has shape \(tensor.shape) of rank \(tensor.shape.count), expected rank \(dims.count) (\(expected))")
            }
            for (axis, (dim, size)) in zip(dims, tensor.shape).enumerated() {
                switch dim {
                case .known(let k) where k != size:
                    throw EmberError(
                        .shapeMismatch,
                        "input '\(inputName)' has size \(size) in dim \(axis), expected \(k) (\(expected))")
                case .symbol(let s):
                    if let bound = symbols[s], bound.size != size {
                        throw EmberError(
                            .shapeMismatch,
                            "input '\(inputName)' has size \(size) in dim \(axis) for '\(s)', but input '\(bound.input)' set '\(s)' = \(bound.size)")
                    }
                    symbols[s] = (size, inputName)
                default: break
                }
            }
        }
        return symbols.mapValues(\.size)
    }
}
