import EmberIR

/// One shape profile of an engine: for each symbolic dim it names, the smallest, the typical and
/// the largest size the engine is built to serve. An engine may have several profiles (as
/// TensorRT's optimization profiles); a run's shapes must fit at least one of them, unless the
/// engine allows rebuilding for shapes outside them. A symbol a profile does not name may take
/// any size in that profile.
///
///     let profile = try ShapeProfile(parsing: "batch=1:8:16,seq=16:128:512")
///     profile.contains(["batch": 4, "seq": 64])   // true
public struct ShapeProfile: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The sizes one symbol may take: `min...max`, `opt` the size most runs have.
    public struct Range: Sendable, Equatable, Codable, CustomStringConvertible {
        public var symbol: String
        public var min: Int
        public var opt: Int
        public var max: Int

        public init(symbol: String, min: Int, opt: Int, max: Int) {
            self.symbol = symbol
            self.min = min
            self.opt = opt
            self.max = max
        }

        /// `NAME=MIN:OPT:MAX`, the form `--profile` takes.
        public var description: String { "\(symbol)=\(min):\(opt):\(max)" }
    }

    /// The ranges, sorted by symbol, one per symbol.
    public private(set) var ranges: [Range]

    /// A profile of `ranges`, checked: one range per symbol, each `1 <= min <= opt <= max`.
    public init(_ ranges: [Range]) throws {
        var seen: Set<String> = []
        for range in ranges {
            guard seen.insert(range.symbol).inserted else {
                throw EmberError(.invalidArgument, "shape profile '\(ShapeProfile.text(ranges))' names '\(range.symbol)' twice")
            }
            guard range.min >= 1, range.min <= range.opt, range.opt <= range.max else {
                throw EmberError(
                    .invalidArgument,
                    "shape profile range '\(range)' must have 1 <= MIN <= OPT <= MAX")
            }
        }
        self.ranges = ranges.sorted { $0.symbol < $1.symbol }
    }

    /// A profile from its text, `NAME=MIN:OPT:MAX` joined by commas (`batch=1:8:16,seq=16:128:512`).
    public init(parsing text: String) throws {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        try self.init(try items.map(ShapeProfile.parseRange))
    }

    /// One `NAME=MIN:OPT:MAX`; sizes are decimal integers that fit in 64 bits.
    public static func parseRange(_ text: String) throws -> Range {
        let item = text.trimmingCharacters(in: .whitespaces)
        guard let equals = item.lastIndex(of: "="), equals != item.startIndex else {
            throw EmberError(.invalidArgument, "shape profile range '\(item)' is not NAME=MIN:OPT:MAX (such as batch=1:8:16)")
        }
        let name = String(item[..<equals])
        let parts = item[item.index(after: equals)...].split(separator: ":", omittingEmptySubsequences: false)
        // Int(_:) refuses digits that overflow 64 bits, so no size wraps.
        let sizes = parts.map { Int($0) }
        guard parts.count == 3, let min = sizes[0], let opt = sizes[1], let max = sizes[2] else {
            throw EmberError(
                .invalidArgument,
                "shape profile range '\(item)' is not NAME=MIN:OPT:MAX with three integer sizes (such as \(name)=1:8:16)")
        }
        return Range(symbol: name, min: min, opt: opt, max: max)
    }

    /// The profiles in `text`, separated by semicolons (`batch=1:1:4,seq=16:64:128;batch=4:16:16`);
    /// the form the C API takes. An empty text has none.
    public static func parseList(_ text: String) throws -> [ShapeProfile] {
        try text.split(separator: ";").map { try ShapeProfile(parsing: String($0)) }
    }

    /// Whether each size in `sizes` (by symbol) fits this profile's range for it.
    public func contains(_ sizes: [String: Int]) -> Bool {
        ranges.allSatisfy { range in sizes[range.symbol].map { range.min <= $0 && $0 <= range.max } ?? true }
    }

    /// The input shapes (graph input order) with every symbol at its OPT size; nil when an input
    /// has a symbol this profile does not name, or an unknown dim or rank.
    public func optimalShapes(for graph: Graph) -> [[Int]]? {
        var shapes: [[Int]] = []
        for id in graph.inputs {
            guard let dims = graph.type(of: id).shape else { return nil }
            var shape: [Int] = []
            for dim in dims {
                switch dim {
                case .known(let size): shape.append(size)
                case .symbol(let s):
                    guard let range = range(of: s) else { return nil }
                    shape.append(range.opt)
                case .unknown: return nil
                }
            }
            shapes.append(shape)
        }
        return shapes
    }

    /// The range this profile has for `symbol`, if it names it.
    public func range(of symbol: String) -> Range? { ranges.first { $0.symbol == symbol } }

    public var description: String { ShapeProfile.text(ranges) }

    static func text(_ ranges: [Range]) -> String { ranges.map(\.description).joined(separator: ",") }
}

extension ShapeProfile {
    /// Checks `profiles` against the graph an engine is built from: every symbol they name is a
    /// symbolic dim of its inputs, each profile's largest shapes have sizes that can be counted in
    /// bytes, and, where `limits` has the range torch.export proved for a symbol, every range lies
    /// inside it. Errors name the symbol, the profile and what would be allowed.
    public static func validate(_ profiles: [ShapeProfile], for graph: Graph, limits: [String: (min: Int?, max: Int?)] = [:]) throws {
        let known = graph.inputSymbols
        for (index, profile) in profiles.enumerated() {
            let which = profiles.count == 1 ? "shape profile" : "shape profile \(index)"
            for range in profile.ranges {
                guard known.contains(range.symbol) else {
                    let names = known.isEmpty
                        ? "the model's inputs have no symbolic dims"
                        : "the symbolic dims of the model's inputs are \(known.map { "'\($0)'" }.joined(separator: ", "))"
                    throw EmberError(.invalidArgument, "\(which): '\(range.symbol)' is not a symbolic dim of the model's inputs; \(names)")
                }
                if let limit = limits[range.symbol] {
                    let low = limit.min ?? Int.min, high = limit.max ?? Int.max
                    guard range.min >= low, range.max <= high else {
                        throw EmberError(
                            .invalidArgument,
                            "\(which): '\(range)' lies outside the range torch.export recorded for '\(range.symbol)', \(limit.min.map(String.init) ?? "?")..\(limit.max.map(String.init) ?? "?")")
                    }
                }
            }
            // Sizes at the largest corner must be countable: no input's byte count may overflow.
            for id in graph.inputs {
                let type = graph.type(of: id)
                guard let dims = type.shape else { continue }
                let largest = dims.map { dim -> Int in
                    switch dim {
                    case .known(let size): size
                    case .symbol(let s): profile.range(of: s)?.max ?? 1
                    case .unknown: 1
                    }
                }
                do {
                    _ = try TensorSize.byteCount(largest, type.dtype, of: "input '\(graph.name(of: id))'")
                } catch let error as EmberError {
                    throw EmberError(.invalidArgument, "\(which) '\(profile)': at its largest sizes \(error.message)")
                }
            }
        }
    }

    /// Throws unless the sizes a run binds to the symbols (`sizes`) fit one of `profiles`; no
    /// profiles allow any sizes. The error names every profile and how to run such shapes anyway.
    public static func check(_ sizes: [String: Int], against profiles: [ShapeProfile]) throws {
        guard !profiles.isEmpty, !profiles.contains(where: { $0.contains(sizes) }) else { return }
        let named = Set(profiles.flatMap { $0.ranges.map(\.symbol) })
        let given = sizes.keys.filter(named.contains).sorted().map { "\($0)=\(sizes[$0] ?? 0)" }.joined(separator: ", ")
        let list = profiles.enumerated().map { "profile \($0.offset): \($0.element)" }.joined(separator: "; ")
        throw EmberError(
            .shapeMismatch,
            "input sizes \(given) lie outside every shape profile of the engine (\(list)); compile with a profile that covers them, or allow rebuilding for other shapes (--allow-rebuild, allow_rebuild=True)")
    }
}

extension Graph {
    /// The names of the symbolic dims of the graph's inputs, sorted.
    public var inputSymbols: [String] {
        var names: Set<String> = []
        for id in inputs {
            for dim in type(of: id).shape ?? [] { if case .symbol(let s) = dim { names.insert(s) } }
        }
        return names.sorted()
    }
}

extension ModelFile {
    /// The ranges torch.export recorded for the model's symbols, by symbol; none for other formats.
    public var symbolLimits: [String: (min: Int?, max: Int?)] {
        guard case .torch(let program) = self else { return [:] }
        var limits: [String: (min: Int?, max: Int?)] = [:]
        for range in program.symbolRanges { limits[range.symbol] = (range.min, range.max) }
        return limits
    }
}
