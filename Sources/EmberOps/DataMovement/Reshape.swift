import EmberIR

/// The same elements under a new shape. In `shape`, `0` copies the input's dim at that position
/// (unless `allowzero` is set, when it means a dim of size 0) and `-1` takes whatever size is left.
///
///     reshape(f32[batch,128,768], [0, 0, 12, 64]) -> f32[batch,128,12,64]
public struct Reshape: Operator {
    public static let name = "reshape"
    public static let inputArity: ClosedRange<Int> = 2...2
    public static var traits: OpTraits { [.dataMovement, .view] }

    public var allowZero: Bool

    public init(allowZero: Bool = false) { self.allowZero = allowZero }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["allowzero"])
        allowZero = try attributes.bool("allowzero", default: false)
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("allowzero", .int(allowZero ? 1 : 0))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "shape")
        guard let target = inputs.constantInts(1) else {
            return [TensorType(x.dtype, inputs.vectorLength(1).map { [Dim](repeating: .unknown, count: $0) })]
        }
        return [TensorType(x.dtype, try outputDims(x.shape, target))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let target = try inputs.required(1, Self.name).indexValues(Self.name, input: "shape")
        let dims = try outputDims(x.shape.map { .known($0) }, target)
        let shape = dims.compactMap(\.value)
        guard shape.count == dims.count, Tensor.elementCount(shape) == x.count else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] cannot reshape \(x.shape) to \(target)")
        }
        return [x.reshaped(shape)]
    }

    /// The output dims for `target`, resolving `0` and `-1` against the input dims (symbolically where
    /// the input has symbols: `[batch,128,768]` to `[0,-1]` gives `[batch,98304]`).
    package func outputDims(_ input: [Dim]?, _ target: [Int]) throws -> [Dim] {
        let op = Self.name
        guard target.filter({ $0 == -1 }).count <= 1 else {
            throw EmberError(.invalidArgument, "[\(op)] shape \(target) has more than one -1")
        }
        if let bad = target.first(where: { $0 < -1 }) {
            throw EmberError(.invalidArgument, "[\(op)] shape has dim \(bad), expected -1 or more")
        }
        if allowZero, target.contains(0), target.contains(-1) {
            throw EmberError(.invalidArgument, "[\(op)] shape \(target) has both 0 and -1 with allowzero set")
        }
        var dims: [Dim] = []
        var inferred: Int? = nil
        for (i, v) in target.enumerated() {
            switch v {
            case 0 where !allowZero:
                guard let input else {
                    dims.append(.unknown)
                    continue
                }
                guard i < input.count else {
                    throw EmberError(.shapeMismatch, "[\(op)] shape \(target) copies dim \(i) of a rank \(input.count) input")
                }
                dims.append(input[i])
            case -1:
                inferred = i
                dims.append(.unknown)
            default:
                dims.append(.known(v))
            }
        }
        guard let input else { return dims }
        guard let inferred else {
            if let a = Tensor.elementCount(input.compactMap(\.value)), input.allSatisfy({ $0.value != nil }),
                let b = Tensor.elementCount(dims.compactMap(\.value)), dims.allSatisfy({ $0.value != nil }), a != b
            {
                throw EmberError(.shapeMismatch, "[\(op)] cannot reshape \(input) to \(target)")
            }
            return dims
        }
        dims[inferred] = try Self.quotient(input, dims.enumerated().filter { $0.offset != inferred }.map(\.element), target)
        return dims
    }

    /// `product(numerator) / product(denominator)`, cancelling symbols that appear in both.
    static func quotient(_ numerator: [Dim], _ denominator: [Dim], _ target: [Int]) throws -> Dim {
        var symbols: [String] = []
        var knownIn = 1
        for d in numerator {
            switch d {
            case .known(let v): knownIn = try DataMovementChecks.multiply(knownIn, v, name)
            case .symbol(let s): symbols.append(s)
            case .unknown: return .unknown
            }
        }
        var knownOut = 1
        for d in denominator {
            switch d {
            case .known(let v): knownOut = try DataMovementChecks.multiply(knownOut, v, name)
            case .symbol(let s):
                guard let k = symbols.firstIndex(of: s) else { return .unknown }
                symbols.remove(at: k)
            case .unknown: return .unknown
            }
        }
        if symbols.isEmpty {
            guard knownOut != 0, knownIn % knownOut == 0 else {
                throw EmberError(
                    .shapeMismatch, "[\(name)] cannot reshape \(knownIn) elements to \(target)")
            }
            return .known(knownIn / knownOut)
        }
        if symbols.count == 1, knownIn == knownOut, knownIn != 0 { return .symbol(symbols[0]) }
        return .unknown
    }
}
