/// Parsing the text IR. Errors name the line and column of the offending token.
extension Graph {
    /// Parses text printed by `Graph.text`; op names are resolved with `registry`. The result is verified.
    public init(parsing text: String, registry: OperatorRegistry) throws {
        try self.init(parsing: text, registry: registry, loadingConstant: nil)
    }

    /// Parses text whose constants may be stored elsewhere (`@blob(offset)`, as written by
    /// `text(storingConstant:)`); `load` reads one from its dtype, shape and offset, or returns nil
    /// for a constant a backend holds in a form of its own (it joins `heldConstants`).
    public init(
        parsing text: String, registry: OperatorRegistry,
        loadingConstant load: ((DType, [Int], Int) throws -> Tensor?)?
    ) throws {
        var parser = TextParser(text, registry: registry, loadingConstant: load)
        self = try parser.parseGraph()
        try verify()
    }
}

struct TextParser {
    private let bytes: [UInt8]
    private var pos = 0
    private let registry: OperatorRegistry
    private var builder = GraphBuilder()
    private var ids: [String: ValueID] = [:]
    private let loadConstant: ((DType, [Int], Int) throws -> Tensor?)?

    init(_ text: String, registry: OperatorRegistry, loadingConstant: ((DType, [Int], Int) throws -> Tensor?)? = nil) {
        bytes = Array(text.utf8)
        self.registry = registry
        self.loadConstant = loadingConstant
    }

    // MARK: Grammar

    mutating func parseGraph() throws -> Graph {
        try keyword("graph")
        let graphName = try name(sigil: "@")
        builder = GraphBuilder(name: graphName)
        try expect("(")
        if !peek(")") {
            repeat {
                let input = try name(sigil: "%")
                try expect(":")
                let type = try tensorType()
                try define(input, builder.input(input, type))
            } while accept(",")
        }
        try expect(")")
        try expect("{")
        while !peekWord("return") {
            try statement()
        }
        try keyword("return")
        repeat {
            builder.output(try use())
        } while accept(",")
        try expect("}")
        skipSpace()
        guard pos == bytes.count else { throw error("unexpected text after the graph") }
        return builder.graph
    }

    private mutating func statement() throws {
        var results: [String] = []
        repeat { results.append(try name(sigil: "%")) } while accept(",")
        try expect("=")
        let opName = try identifier()
        if opName == "constant" {
            guard results.count == 1 else { throw error("a constant defines exactly one value") }
            let dtype = try dtype()
            switch try literal(dtype: dtype) {
            case .tensor(let tensor): try define(results[0], builder.constant(tensor, name: results[0]))
            case .held(let shape): try define(results[0], builder.heldConstant(TensorType(dtype, known: shape), name: results[0]))
            }
            return
        }
        let opLine = location
        try expect("(")
        var inputs: [ValueID?] = []
        if !peek(")") {
            repeat {
                if accept("_") { inputs.append(nil) } else { inputs.append(try use()) }
            } while accept(",")
        }
        try expect(")")
        var attributes = Attributes(op: opName)
        if accept("{") {
            repeat {
                let key = try identifier()
                try expect("=")
                attributes[key] = try attribute()
            } while accept(",")
            try expect("}")
        }
        try expect(":")
        var types: [TensorType] = []
        repeat { types.append(try tensorType()) } while accept(",")
        guard types.count == results.count else {
            throw error("\(results.count) results but \(types.count) types")
        }
        var nodeName = ""
        if acceptWord("loc") {
            try expect("(")
            nodeName = try string()
            try expect(")")
        }
        let op: any Operator
        do {
            op = try registry.make(opName, attributes)
        } catch let e as EmberError {
            throw e.located(opLine)
        }
        let outs = try builder.add(
            op, inputs, outputs: results.count, names: results, nodeName: nodeName, types: types)
        for (name, id) in zip(results, outs) { try define(name, id) }
    }

    private mutating func define(_ name: String, _ id: ValueID) throws {
        guard ids[name] == nil, builder.graph.name(of: id) == name else {
            throw error("%\(name) is defined twice")
        }
        ids[name] = id
    }

    private mutating func use() throws -> ValueID {
        let at = location
        let n = try name(sigil: "%")
        guard let id = ids[n] else { throw EmberError(.invalidIR, "%\(n) is used before it is defined", at: at) }
        return id
    }

    private mutating func tensorType() throws -> TensorType {
        let dt = try dtype()
        try expect("[")
        if accept("*") {
            try expect("]")
            return TensorType(dt, nil)
        }
        var dims: [Dim] = []
        if !peek("]") {
            repeat {
                skipSpace()
                if accept("?") {
                    dims.append(.unknown)
                } else if let c = current, isDigit(c) {
                    dims.append(.known(try integer()))
                } else if peek("\"") {
                    dims.append(.symbol(try string()))
                } else {
                    dims.append(.symbol(try identifier()))
                }
            } while accept(",")
        }
        try expect("]")
        return TensorType(dt, dims)
    }

    private mutating func dtype() throws -> DType {
        let at = location
        let word = try identifier()
        guard let dt = DType(rawValue: word) else {
            throw EmberError(.invalidIR, "unknown dtype '\(word)'", at: at)
        }
        return dt
    }

    /// A constant's value: its elements, or the shape of one a backend holds.
    private enum Literal {
        case tensor(Tensor)
        case held([Int])
    }

    private mutating func tensorLiteral(dtype: DType) throws -> Tensor {
        let at = location
        guard case .tensor(let tensor) = try literal(dtype: dtype) else {
            throw EmberError(.invalidIR, "a held constant is not a value here", at: at)
        }
        return tensor
    }

    /// `[dims] 0x...`, `[dims] [elements]`, `[dims] @blob(offset)` (read by the loader, which may
    /// leave it held) or `[dims] @held`.
    private mutating func literal(dtype: DType) throws -> Literal {
        try expect("[")
        var shape: [Int] = []
        if !peek("]") {
            repeat { shape.append(try integer()) } while accept(",")
        }
        try expect("]")
        skipSpace()
        if peek("0x") { return .tensor(try hexTensor(dtype, shape)) }
        if accept("@held") { return .held(shape) }
        if accept("@blob") {
            try expect("(")
            let offset = try integer()
            try expect(")")
            guard let loadConstant else { throw error("constant stored in a blob, but no blob was given") }
            do {
                return try loadConstant(dtype, shape, offset).map { .tensor($0) } ?? .held(shape)
            } catch let e as EmberError {
                throw e.located(location)
            }
        }
        try expect("[")
        var words: [String] = []
        if !peek("]") {
            repeat { words.append(try numberWord()) } while accept(",")
        }
        try expect("]")
        guard words.count == Tensor.elementCount(shape) else {
            throw error("tensor literal of shape \(shape) has \(words.count) elements")
        }
        if dtype == .bool {
            return .tensor(Tensor(shape: shape, bools: words.map { $0 == "true" }))
        }
        if dtype.isFloatingPoint {
            let values = try words.map { w -> Double in
                guard let v = Double(w) else { throw error("'\(w)' is not a number") }
                return v
            }
            return .tensor(Tensor(dtype, shape: shape, doubles: values))
        }
        if dtype == .u64 {
            let values = try words.map { w -> UInt64 in
                guard let v = UInt64(w) else { throw error("'\(w)' is not an integer") }
                return v
            }
            return .tensor(Tensor(shape: shape, storage: .u64(values)))
        }
        let values = try words.map { w -> Int64 in
            guard let v = Int64(w) else { throw error("'\(w)' is not an integer") }
            return v
        }
        return .tensor(Tensor(dtype, shape: shape, int64s: values))
    }

    private mutating func hexTensor(_ dtype: DType, _ shape: [Int]) throws -> Tensor {
        try expect("0x")
        var raw: [UInt8] = []
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        while pos + 1 < bytes.count, let hi = nibble(bytes[pos]), let lo = nibble(bytes[pos + 1]) {
            raw.append(hi << 4 | lo)
            pos += 2
        }
        do {
            return try Tensor(dtype, shape: shape, bytes: raw)
        } catch let e as EmberError {
            throw e.located(location)
        }
    }

    private mutating func attribute() throws -> Attribute {
        skipSpace()
        guard let c = current else { throw error("expected an attribute value") }
        if c == UInt8(ascii: "\"") { return .string(try string()) }
        if c == UInt8(ascii: "[") {
            pos += 1
            skipSpace()
            if peek("\"") {
                var items: [String] = []
                repeat { items.append(try string()) } while accept(",")
                try expect("]")
                return .strings(items)
            }
            var words: [String] = []
            if !peek("]") {
                repeat { words.append(try numberWord()) } while accept(",")
            }
            try expect("]")
            if let ints = intList(words) { return .ints(ints) }
            return .floats(try words.map { w in
                guard let v = Double(w) else { throw error("'\(w)' is not a number") }
                return v
            })
        }
        if isLetter(c), !peekWord("nan"), !peekWord("inf") {
            let word = try identifier()
            guard let dt = DType(rawValue: word) else { throw error("unknown attribute value '\(word)'") }
            skipSpace()
            if peek("[") { return .tensor(try tensorLiteral(dtype: dt)) }
            return .dtype(dt)
        }
        let word = try numberWord()
        if let v = Int(word) { return .int(v) }
        guard let v = Double(word) else { throw error("'\(word)' is not a number") }
        return .float(v)
    }

    private func intList(_ words: [String]) -> [Int]? {
        var out: [Int] = []
        for w in words {
            guard let v = Int(w) else { return nil }
            out.append(v)
        }
        return out
    }

    // MARK: Tokens

    private var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private var location: String {
        var line = 1
        var column = 1
        for b in bytes[..<min(pos, bytes.count)] {
            if b == 10 { line += 1; column = 1 } else { column += 1 }
        }
        return "line \(line), column \(column)"
    }

    private func error(_ message: String) -> EmberError {
        EmberError(.invalidIR, message, at: location)
    }

    private mutating func skipSpace() {
        while let c = current {
            if c == 32 || c == 9 || c == 10 || c == 13 {
                pos += 1
            } else if c == UInt8(ascii: "/"), pos + 1 < bytes.count, bytes[pos + 1] == UInt8(ascii: "/") {
                while let d = current, d != 10 { pos += 1 }
            } else {
                return
            }
        }
    }

    private mutating func peek(_ s: String) -> Bool {
        skipSpace()
        let u = Array(s.utf8)
        return pos + u.count <= bytes.count && Array(bytes[pos..<pos + u.count]) == u
    }

    private mutating func accept(_ s: String) -> Bool {
        guard peek(s) else { return false }
        pos += s.utf8.count
        return true
    }

    private mutating func expect(_ s: String) throws {
        guard accept(s) else { throw error("expected '\(s)'") }
    }

    private mutating func peekWord(_ w: String) -> Bool {
        guard peek(w) else { return false }
        let end = pos + w.utf8.count
        return end >= bytes.count || !isNameByte(bytes[end])
    }

    private mutating func acceptWord(_ w: String) -> Bool {
        guard peekWord(w) else { return false }
        pos += w.utf8.count
        return true
    }

    private mutating func keyword(_ w: String) throws {
        guard acceptWord(w) else { throw error("expected '\(w)'") }
    }

    private func isLetter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) || c == 95 }
    private func isDigit(_ c: UInt8) -> Bool { (48...57).contains(c) }
    private func isNameByte(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) || c == 46 }

    private mutating func identifier() throws -> String {
        skipSpace()
        let start = pos
        while let c = current, isNameByte(c) { pos += 1 }
        guard pos > start else { throw error("expected a name") }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    private mutating func integer() throws -> Int {
        let w = try numberWord()
        guard let v = Int(w) else { throw error("'\(w)' is not an integer") }
        return v
    }

    /// A number as written: digits, sign, point, exponent, or `nan`/`inf`/`true`/`false`.
    private mutating func numberWord() throws -> String {
        skipSpace()
        let start = pos
        while let c = current, isNameByte(c) || c == 45 || c == 43 { pos += 1 }
        guard pos > start else { throw error("expected a number") }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    private mutating func name(sigil: String) throws -> String {
        try expect(sigil)
        if let c = current, c == UInt8(ascii: "\"") { return try string() }
        return try identifier()
    }

    private mutating func string() throws -> String {
        skipSpace()
        guard current == UInt8(ascii: "\"") else { throw error("expected a string") }
        pos += 1
        var out: [UInt8] = []
        while let c = current, c != UInt8(ascii: "\"") {
            pos += 1
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                continue
            }
            guard let e = current else { break }
            pos += 1
            switch e {
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                try expect("{")
                let start = pos
                while let d = current, d != UInt8(ascii: "}") { pos += 1 }
                guard let v = UInt32(String(decoding: bytes[start..<pos], as: UTF8.self), radix: 16),
                    let scalar = Unicode.Scalar(v)
                else { throw error("bad unicode escape") }
                try expect("}")
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: out.append(e)
            }
        }
        guard current == UInt8(ascii: "\"") else { throw error("unterminated string") }
        pos += 1
        return String(decoding: out, as: UTF8.self)
    }
}
