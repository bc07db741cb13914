/// How numbers, strings, names and tensors are spelled in the text IR.

enum TextFloat {
    /// Shortest text that parses back to the same `Double`.
    static func format(_ v: Double) -> String { v.description }
}

enum TextString {
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// `%name`, quoted when the name holds characters beyond letters, digits, `_` and `.`.
enum TextName {
    static func isBare(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "." }
    }
    static func format(_ s: String, sigil: String = "%") -> String {
        sigil + (isBare(s) ? s : TextString.quote(s))
    }
}

/// A tensor as `f32[2,2] [1.0, 2.0, 3.0, 4.0]`, or with a hex dump of its bytes when it is large.
public enum TensorLiteral {
    /// Tensors with at most this many elements are written element by element.
    public static let listLimit = 16

    public static func format(_ t: Tensor) -> String {
        let type = "\(t.dtype)[\(t.shape.map(String.init).joined(separator: ","))]"
        guard t.count <= listLimit else {
            let hex = t.bytes().map { byte in
                let s = String(byte, radix: 16)
                return s.count == 1 ? "0" + s : s
            }.joined()
            return "\(type) 0x\(hex)"
        }
        let elements: [String]
        switch t.storage {
        case .f64(let a): elements = a.map(\.description)
        case .f32(let a): elements = a.map(\.description)
        case .f16(let a): elements = a.map { Float($0).description }
        case .bf16(let a): elements = a.map { $0.floatValue.description }
        case .bool(let a): elements = a.map(\.description)
        case .u64(let a): elements = a.map(\.description)
        default: elements = t.int64s().map(\.description)
        }
        return "\(type) [\(elements.joined(separator: ", "))]"
    }
}
