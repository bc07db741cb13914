import EmberIR

/// Pads (or, with negative pads, crops) each axis: `pads` (input 1) holds all the begin amounts,
/// then all the end amounts, for the axes in `axes` (input 3, default all). New elements are
/// `constant_value` (input 2, default 0), or copies of the input by reflection, edge repetition or
/// wrapping around, per `mode`.
///
///     pad(f32[batch,3,32,32], [0,0,1,1, 0,0,1,1]) -> f32[batch,3,34,34]
public struct Pad: Operator {
    public static let name = "pad"
    public static let inputArity: ClosedRange<Int> = 2...4
    public static var traits: OpTraits { .dataMovement }

    public enum Mode: String, Sendable, CaseIterable {
        case constant, reflect, edge, wrap

        /// For output position `i` of an axis of input size `n` padded by `begin`, the input position it
        /// copies, or nil for the constant.
        public func source(_ i: Int, begin: Int, n: Int) -> Int? {
            let s = i - begin
            if s >= 0 && s < n { return s }
            switch self {
            case .constant: return nil
            case .edge: return s < 0 ? 0 : n - 1
            case .wrap: return ((s % n) + n) % n
            case .reflect:
                if n == 1 { return 0 }
                let period = 2 * (n - 1)
                let m = ((s % period) + period) % period
                return m < n ? m : period - m
            }
        }
    }

    public var mode: Mode

    public init(mode: Mode = .constant) { self.mode = mode }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["mode"])
        let text = try attributes.string("mode", default: "constant")
        guard let mode = Mode(rawValue: text) else {
            throw EmberError(
                .invalidArgument, "[\(Self.name)] mode '\(text)' expected constant, reflect, edge or wrap")
        }
        self.mode = mode
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("mode", .string(mode.rawValue))]) }

    /// Begin and end pads per axis of a tensor of `rank`.
    static func perAxis(_ pads: [Int], axes: [Int]?, rank: Int) throws -> [(begin: Int, end: Int)] {
        let axes = try (axes ?? Array(0..<rank)).map { (a: Int) in try Axes.normalize(a, rank: rank, op: name) }
        guard pads.count == 2 * axes.count else {
            throw EmberError(.invalidArgument, "[\(name)] pads has \(pads.count) values, expected \(2 * axes.count)")
        }
        guard Set(axes).count == axes.count, axes.allSatisfy({ $0 < rank }) else {
            throw EmberError(.invalidArgument, "[\(name)] axes \(axes) repeat or are out of range for rank \(rank)")
        }
        var result = [(begin: Int, end: Int)](repeating: (0, 0), count: rank)
        for (i, a) in axes.enumerated() { result[a] = (pads[i], pads[axes.count + i]) }
        return result
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try DataMovementChecks.expectIntegerVector(try inputs.type(1), Self.name, input: "pads")
        if inputs.has(2) {
            try Elementwise.expectSameDType(x.dtype, try inputs.type(2).dtype, Self.name)
        }
        if inputs.has(3) { try DataMovementChecks.expectIntegerVector(try inputs.type(3), Self.name, input: "axes") }
        guard var dims = x.shape else { return [TensorType(x.dtype, nil)] }
        let axes = inputs.has(3) ? inputs.constantInts(3) : nil
        guard let pads = inputs.constantInts(1), !inputs.has(3) || axes != nil else {
            if let axes {
                for a in axes {
                    let k = try Axes.normalize(a, rank: dims.count, op: Self.name)
                    if k < dims.count { dims[k] = .unknown }
                }
                return [TensorType(x.dtype, dims)]
            }
            return [TensorType(x.dtype, dims.map { _ in .unknown })]
        }
        for (k, p) in try Self.perAxis(pads, axes: axes, rank: dims.count).enumerated() where p.begin != 0 || p.end != 0 {
            if let d = dims[k].value {
                let size = try DataMovementChecks.add(try DataMovementChecks.add(d, p.begin, Self.name), p.end, Self.name)
                guard size >= 0 else {
                    throw EmberError(.invalidArgument, "[\(Self.name)] pads \(pads) crop more than axis \(k) holds")
                }
                dims[k] = .known(size)
            } else {
                dims[k] = .unknown
            }
        }
        return [TensorType(x.dtype, dims)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let pads = try inputs.required(1, Self.name).indexValues(Self.name, input: "pads")
        let value = inputs.optional(2)
        if let value { try Elementwise.expectSameDType(x.dtype, value.dtype, Self.name) }
        let axes = try inputs.optional(3).map { try $0.indexValues(Self.name, input: "axes") }
        let perAxis = try Self.perAxis(pads, axes: axes, rank: x.rank)
        let shape = try zip(x.shape, perAxis).map {
            try DataMovementChecks.add(try DataMovementChecks.add($0, $1.begin, Self.name), $1.end, Self.name)
        }
        guard shape.allSatisfy({ $0 >= 0 }), Tensor.elementCount(shape) != nil else {
            throw EmberError(.invalidArgument, "[\(Self.name)] pads \(pads) give the invalid shape \(shape)")
        }
        let strides = Tensor.strides(of: x.shape)
        var tables: [[Int]] = []
        for k in 0..<x.rank {
            let n = x.shape[k]
            if n == 0, mode != .constant, shape[k] > 0 {
                throw EmberError(.invalidArgument, "[\(Self.name)] cannot pad an empty axis \(k) in \(mode) mode")
            }
            tables.append((0..<shape[k]).map { i in mode.source(i, begin: perAxis[k].begin, n: n).map { $0 * strides[k] } ?? IndexMaps.fill })
        }
        let fill = value.flatMap { $0.count > 0 ? $0 : nil }
        return [IndexMaps.gatheringWithFill(x, IndexMaps.sums(tables), shape: shape, value: fill)]
    }
}
