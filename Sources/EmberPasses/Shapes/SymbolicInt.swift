import EmberIR

/// An integer known at compile time up to symbolic dims: `coefficient * s1 * s2 * ...`, with the
/// symbols sorted. `3`, `batch`, `12*batch*sequence` are symbolic ints; `batch + 1` is not.
///
/// Symbols stand for dims, which are never negative; cancelling a symbol in a division also
/// assumes it is not zero, as `Reshape`'s own inference does.
struct SymbolicInt: Hashable, Sendable, CustomStringConvertible {
    var coefficient: Int
    var symbols: [String]

    init(_ value: Int) {
        coefficient = value
        symbols = []
    }

    init(coefficient: Int, symbols: [String]) {
        self.coefficient = coefficient
        self.symbols = coefficient == 0 ? [] : symbols.sorted()
    }

    /// The symbolic int a dim stands for; nil for an unknown dim.
    init?(_ dim: Dim) {
        switch dim {
        case .known(let v): self.init(v)
        case .symbol(let s): self.init(coefficient: 1, symbols: [s])
        case .unknown: return nil
        }
    }

    var known: Int? { symbols.isEmpty ? coefficient : nil }

    /// The dim this value is, when a dim can say it: a number or a lone symbol.
    var dim: Dim {
        if symbols.isEmpty { return .known(coefficient) }
        if coefficient == 1 && symbols.count == 1 { return .symbol(symbols[0]) }
        return .unknown
    }

    var description: String {
        symbols.isEmpty ? "\(coefficient)" : ([coefficient == 1 ? nil : "\(coefficient)"].compactMap { $0 } + symbols).joined(separator: "*")
    }

    // x*y: coefficients multiply, symbols join.
    static func * (a: SymbolicInt, b: SymbolicInt) -> SymbolicInt? {
        let (c, overflow) = a.coefficient.multipliedReportingOverflow(by: b.coefficient)
        guard !overflow else { return nil }
        return SymbolicInt(coefficient: c, symbols: a.symbols + b.symbols)
    }

    // c1*P + c2*P = (c1+c2)*P; x + 0 = x.
    static func + (a: SymbolicInt, b: SymbolicInt) -> SymbolicInt? {
        if b.known == 0 { return a }
        if a.known == 0 { return b }
        guard a.symbols == b.symbols else { return nil }
        let (c, overflow) = a.coefficient.addingReportingOverflow(b.coefficient)
        guard !overflow else { return nil }
        return SymbolicInt(coefficient: c, symbols: a.symbols)
    }

    static prefix func - (a: SymbolicInt) -> SymbolicInt? {
        guard a.coefficient != Int.min else { return nil }
        return SymbolicInt(coefficient: -a.coefficient, symbols: a.symbols)
    }

    static func - (a: SymbolicInt, b: SymbolicInt) -> SymbolicInt? {
        guard let negated = -b else { return nil }
        return a + negated
    }

    /// Integer division truncating toward zero, only where it is exact: `12*b*s / (4*s) = 3*b`.
    static func / (a: SymbolicInt, b: SymbolicInt) -> SymbolicInt? {
        guard b.coefficient != 0 else { return nil }
        if let x = a.known, let y = b.known {
            return SymbolicInt(x.dividedReportingOverflow(by: y).partialValue)
        }
        guard a.coefficient % b.coefficient == 0 else { return nil }
        var rest = a.symbols
        for s in b.symbols {
            guard let k = rest.firstIndex(of: s) else { return nil }
            rest.remove(at: k)
        }
        return SymbolicInt(coefficient: a.coefficient / b.coefficient, symbols: rest)
    }

    /// The sign of `a - b` where it is provable from dims being non-negative: -1, 0 or 1.
    static func compare(_ a: SymbolicInt, _ b: SymbolicInt) -> Int? {
        if a == b { return 0 }
        if let x = a.known, let y = b.known { return x < y ? -1 : 1 }
        // A product of dims with a positive coefficient is >= 0, so it exceeds any negative number.
        if let y = b.known, a.coefficient > 0, y < 0 { return 1 }
        if let x = a.known, b.coefficient > 0, x < 0 { return -1 }
        return nil
    }

    /// The product of dims, when every one is known or symbolic.
    static func product(_ dims: [Dim]) -> SymbolicInt? {
        var result = SymbolicInt(1)
        for d in dims {
            guard let s = SymbolicInt(d), let p = result * s else { return nil }
            result = p
        }
        return result
    }
}
