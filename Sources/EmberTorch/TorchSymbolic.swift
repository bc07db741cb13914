import EmberIR
import Foundation

/// torch.export's symbolic sizes as Ember dims.
///
/// Archives write a size's expression either plainly (`s0`, `2*s0`) or, since schema 8.x of
/// torch 2.7, as sympy's `srepr` (`Mul(Integer(2), Symbol('s0', positive=True, integer=True))`).
/// A lone symbol becomes `.symbol("s0")`, an integer `.known`, and any other expression a
/// symbol named by its infix form (`2*s0`), so equal expressions give equal dims.
enum TorchSymbolic {
    /// The dim for a serialized expression.
    static func dim(_ expression: String) -> Dim {
        let text = expression.trimmingCharacters(in: .whitespaces)
        if let v = Int(text) { return .known(v) }
        guard let infix = infix(text) else { return .unknown }
        if let v = Int(infix) { return .known(v) }
        return .symbol(infix)
    }

    /// The expression in plain infix form, or nil when it cannot be read.
    static func infix(_ text: String) -> String? {
        guard text.contains("(") else { return text.isEmpty ? nil : text.replacingOccurrences(of: " ", with: "") }
        var parser = Parser(Array(text.unicodeScalars))
        guard let result = parser.expression(), parser.atEnd else { return nil }
        return result
    }

    /// A reader for sympy's `srepr`: `Name(arg, ...)`, `'quoted'`, numbers, `key=value`.
    private struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        var depth = 0
        init(_ s: [Unicode.Scalar]) { self.s = s }

        var atEnd: Bool {
            mutating get {
                skipSpaces()
                return i == s.count
            }
        }

        mutating func skipSpaces() { while i < s.count, s[i] == " " { i += 1 } }

        mutating func expression() -> String? {
            skipSpaces()
            guard i < s.count, depth < 64 else { return nil }
            if s[i] == "'" || s[i] == "\"" {
                let quote = s[i]
                i += 1
                let start = i
                while i < s.count, s[i] != quote { i += 1 }
                guard i < s.count else { return nil }
                defer { i += 1 }
                return String(String.UnicodeScalarView(s[start..<i]))
            }
            let start = i
            while i < s.count, s[i].properties.isAlphabetic || s[i].properties.numericType != nil || s[i] == "_" || s[i] == "-" || s[i] == "." {
                i += 1
            }
            let word = String(String.UnicodeScalarView(s[start..<i]))
            skipSpaces()
            guard i < s.count, s[i] == "(" else { return word.isEmpty ? nil : word }
            i += 1
            depth += 1
            defer { depth -= 1 }
            var args: [String] = []
            while true {
                skipSpaces()
                guard i < s.count else { return nil }
                if s[i] == ")" {
                    i += 1
                    break
                }
                let keyStart = i
                while i < s.count, s[i].properties.isAlphabetic || s[i] == "_" { i += 1 }
                if i < s.count, s[i] == "=" {
                    i += 1
                    guard expression() != nil else { return nil }  // keyword arguments: assumptions, dropped
                } else {
                    i = keyStart
                    guard let arg = expression() else { return nil }
                    args.append(arg)
                }
                skipSpaces()
                if i < s.count, s[i] == "," { i += 1 }
            }
            return Self.combine(word, args)
        }

        static func combine(_ head: String, _ args: [String]) -> String? {
            func wrap(_ a: String) -> String { a.contains("+") || a.contains("-") && a.dropFirst().contains("-") ? "(\(a))" : a }
            switch (head, args.count) {
            case ("Symbol", 1), ("Integer", 1), ("Float", 1): return args[0]
            case ("Symbol", _): return args.first
            case ("Add", 1...): return args.joined(separator: " + ")
            case ("Mul", 1...): return args.map(wrap).joined(separator: "*")
            case ("FloorDiv", 2): return "\(wrap(args[0]))//\(wrap(args[1]))"
            case ("CleanDiv", 2), ("IntTrueDiv", 2): return "\(wrap(args[0]))/\(wrap(args[1]))"
            case ("Mod", 2), ("PythonMod", 2): return "\(wrap(args[0]))%\(wrap(args[1]))"
            case ("Pow", 2): return "\(wrap(args[0]))**\(wrap(args[1]))"
            case ("Rational", 2): return "\(args[0])/\(args[1])"
            case ("One", 0): return "1"
            case ("Zero", 0): return "0"
            case ("NegativeOne", 0): return "-1"
            default: return "\(head)(\(args.joined(separator: ", ")))"
            }
        }
    }
}
