/// The text form of a graph. It parses back (`Graph(parsing:registry:)`) to a graph that prints
/// identically, so tests are written in it.
///
///     graph @main(%x: f32[batch,4]) {
///       %w = constant f32[4] [1.0, 2.0, 3.0, 4.0]
///       %y = mul(%x, %w) : f32[batch,4]
///       return %y
///     }
extension Graph {
    public var text: String { text(storingConstant: nil) }

    /// The text form for reading, as `--print-ir-after` shows it: constants with more than
    /// `TensorLiteral.listLimit` elements appear by type alone (`constant f32[768,768] @elided`),
    /// so that a large model's dump is its structure, not megabytes of hex. It does not parse back.
    public var outline: String { text(storingConstant: nil, eliding: true) }

    /// The text form, with constants written elsewhere: `store` saves a constant's bytes and
    /// returns its offset, and the text says `constant f32[64,3,7,7] @blob(4096)` instead of the data.
    /// Small constants (at most `TensorLiteral.listLimit` elements) stay inline. A held constant
    /// (`heldConstants`) is `@blob(offset)` with the offset `storeHeld` gives, or `@held` without it.
    /// With `eliding`, large constants are `@elided` instead (see `outline`).
    public func text(
        storingConstant store: ((Tensor) -> Int)?, storingHeld storeHeld: ((ValueID) -> Int)? = nil, eliding: Bool = false
    ) -> String {
        var out = "graph \(TextName.format(name, sigil: "@"))("
        out += inputs.map { "\(TextName.format(self.name(of: $0))): \(type(of: $0))" }.joined(separator: ", ")
        out += ") {\n"
        for id in (constantIDs + heldConstants).sorted() {
            guard let t = constants[id] else {
                let place = storeHeld.map { "@blob(\($0(id)))" } ?? "@held"
                out += "  \(TextName.format(self.name(of: id))) = constant \(type(of: id)) \(place)\n"
                continue
            }
            let literal: String
            if t.count > TensorLiteral.listLimit, let place = eliding ? "@elided" : store.map({ "@blob(\($0(t)))" }) {
                literal = "\(t.dtype)[\(t.shape.map(String.init).joined(separator: ","))] \(place)"
            } else {
                literal = TensorLiteral.format(t)
            }
            out += "  \(TextName.format(self.name(of: id))) = constant \(literal)\n"
        }
        for node in nodes {
            out += "  " + node.outputs.map { TextName.format(self.name(of: $0)) }.joined(separator: ", ")
            out += " = \(node.op.name)("
            out += node.inputs.map { $0.map { TextName.format(self.name(of: $0)) } ?? "_" }.joined(separator: ", ")
            out += ")"
            let attrs = node.op.attributes.entries
            if !attrs.isEmpty {
                out += " {" + attrs.map { "\($0.name) = \($0.value)" }.joined(separator: ", ") + "}"
            }
            out += " : " + node.outputs.map { type(of: $0).description }.joined(separator: ", ")
            if !node.name.isEmpty { out += " loc(\(TextString.quote(node.name)))" }
            out += "\n"
        }
        out += "  return " + outputs.map { TextName.format(self.name(of: $0)) }.joined(separator: ", ") + "\n}\n"
        return out
    }
}
