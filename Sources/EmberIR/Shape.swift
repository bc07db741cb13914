/// One dimension of a tensor type: a known size, a named symbol shared across the graph
/// (ONNX `dim_param`, torch.export's `s0`), or unknown.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case known(Int)
    case symbol(String)
    case unknown

    public var value: Int? { if case .known(let v) = self { v } else { nil } }

    public var description: String {
        switch self {
        case .known(let v): "\(v)"
        case .symbol(let s): TextName.isBare(s) && !(s.first?.isNumber ?? true) ? s : TextString.quote(s)
        case .unknown: "?"
        }
    }
}

extension Dim: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: Int) { self = .known(value) }
    public init(stringLiteral value: String) { self = .symbol(value) }
}

/// The static type of a value: its dtype and shape. A nil `shape` means the rank is unknown.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Dim]?

    public init(_ dtype: DType, _ shape: [Dim]?) {
        self.dtype = dtype
        self.shape = shape
    }

    /// A type whose dims are all known.
    public init(_ dtype: DType, known: [Int]) {
        self.init(dtype, known.map { .known($0) })
    }

    public var rank: Int? { shape?.count }

    /// The sizes, if every dim is known.
    public var knownShape: [Int]? {
        guard let shape else { return nil }
        var sizes: [Int] = []
        for d in shape {
            guard let v = d.value else { return nil }
            sizes.append(v)
        }
        return sizes
    }

    public var description: String {
        guard let shape else { return "\(dtype)[*]" }
        return "\(dtype)[\(shape.map(\.description).joined(separator: ","))]"
    }
}
