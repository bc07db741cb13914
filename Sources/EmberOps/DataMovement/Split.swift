import EmberIR

/// Cuts a tensor into consecutive pieces along `axis`: of the sizes in the optional `split` input,
/// else `num_outputs` pieces of `ceil(dim / num_outputs)` (the last one smaller), else as many equal
/// pieces as there are outputs.
///
///     split(f32[batch,10], axis: 1, num_outputs: 3) -> f32[batch,4], f32[batch,4], f32[batch,2]
public struct Split: Operator {
    public static let name = "split"
    public static let inputArity: ClosedRange<Int> = 1...2
    public static let outputArity: ClosedRange<Int> = 1...Int.max
    public static var traits: OpTraits { .dataMovement }

    public var axis: Int
    public var numOutputs: Int?

    public init(axis: Int = 0, numOutputs: Int? = nil) {
        self.axis = axis
        self.numOutputs = numOutputs
    }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis", "num_outputs"])
        axis = try attributes.int("axis", default: 0)
        numOutputs = try attributes.int("num_outputs")
        if let n = numOutputs, n < 1 {
            throw EmberError(.invalidArgument, "[\(Self.name)] num_outputs is \(n), expected at least 1")
        }
    }
    public var attributes: Attributes {
        var list: [(String, Attribute)] = [("axis", .int(axis))]
        if let numOutputs { list.append(("num_outputs", .int(numOutputs))) }
        return Attributes(op: Self.name, list)
    }

    /// The piece sizes for a dim of `size` (nil when unknown), from the `split` values if given.
    func sizes(dim size: Int?, split: [Int]?, hasSplitInput: Bool, outputCount: Int) throws -> [Int]? {
        let op = Self.name
        if let numOutputs, numOutputs != outputCount {
            throw EmberError(.invalidArgument, "[\(op)] num_outputs is \(numOutputs), but the node has \(outputCount) outputs")
        }
        if hasSplitInput {
            if numOutputs != nil {
                throw EmberError(.invalidArgument, "[\(op)] expected either the split input or num_outputs, received both")
            }
            guard let split else { return nil }
            guard split.count == outputCount else {
                throw EmberError(.invalidArgument, "[\(op)] split has \(split.count) sizes, expected \(outputCount)")
            }
            guard split.allSatisfy({ $0 >= 0 }) else {
                throw EmberError(.invalidArgument, "[\(op)] split \(split) has a negative size")
            }
            if let size, split.reduce(0, +) != size {
                throw EmberError(.shapeMismatch, "[\(op)] split \(split) does not add up to the dim \(size)")
            }
            return split
        }
        guard let size else { return nil }
        if numOutputs != nil {
            let chunk = (size + outputCount - 1) / outputCount
            return (0..<outputCount).map { max(0, min(chunk, size - $0 * chunk)) }
        }
        guard size % outputCount == 0 else {
            throw EmberError(.shapeMismatch, "[\(op)] dim \(size) does not split into \(outputCount) equal pieces")
        }
        return [Int](repeating: size / outputCount, count: outputCount)
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        if inputs.has(1) { try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "split") }
        guard let shape = x.shape else { return [TensorType](repeating: TensorType(x.dtype, nil), count: outputCount) }
        let a = try Axes.normalize(axis, rank: shape.count, op: Self.name)
        guard a < shape.count else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(shape.count)")
        }
        let pieces = try sizes(
            dim: shape[a].value, split: inputs.constantInts(1), hasSplitInput: inputs.has(1), outputCount: outputCount)
        return (0..<outputCount).map { k in
            var dims = shape
            dims[a] = pieces.map { .known($0[k]) } ?? (outputCount == 1 ? shape[a] : .unknown)
            return TensorType(x.dtype, dims)
        }
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let a = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        guard a < x.rank else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axis \(axis) is out of range for rank \(x.rank)")
        }
        let split = try inputs.optional(1).map { try $0.indexValues(Self.name, input: "split") }
        guard
            let pieces = try sizes(
                dim: x.shape[a], split: split, hasSplitInput: inputs.optional(1) != nil, outputCount: outputCount)
        else {
            throw EmberError(.internalError, "[\(Self.name)] piece sizes unknown")
        }
        let strides = Tensor.strides(of: x.shape)
        var start = 0
        return pieces.map { size in
            var tables = (0..<x.rank).map { IndexMaps.strided(start: 0, step: 1, count: x.shape[$0], stride: strides[$0]) }
            tables[a] = IndexMaps.strided(start: start, step: 1, count: size, stride: strides[a])
            var shape = x.shape
            shape[a] = size
            start += size
            return x.gathering(IndexMaps.sums(tables), shape: shape)
        }
    }
}
