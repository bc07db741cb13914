import EmberIR
import EmberOps
import Foundation

/// A `torch.export.save` archive (`.pt2`), read and checked, ready to be imported as an Ember graph.
///
///     let program = try TorchProgram(contentsOf: URL(fileURLWithPath: "resnet50.pt2"))
///     let graph = try program.importGraph()
///
/// The graph's inputs are the program's user inputs, under the names its signature gives them
/// (the `forward` argument names); parameters, buffers and tensor constants become constants.
/// torch.export's symbolic sizes (`s0`, `s77`) become symbolic dims, and their ranges are kept
/// in `symbolRanges`.
public struct TorchProgram {
    /// The serialization schema versions Ember reads: those torch 2.6 (8.2) through 2.15 (8.20) write.
    public static let supportedSchemaMajor = 8
    public static let supportedSchemaMinors = 2...20
    /// The range, as people read it.
    public static var supportedSchemaDescription: String {
        "\(supportedSchemaMajor).\(supportedSchemaMinors.lowerBound) through \(supportedSchemaMajor).\(supportedSchemaMinors.upperBound) (torch 2.6 through 2.15)"
    }

    /// The two archive layouts torch.export.save has written.
    enum Layout {
        /// torch 2.8 and newer: `models/model.json`, raw weight files and JSON configs under `data/`.
        case pt2
        /// torch 2.6 and 2.7: `serialized_exported_program.json`, weights in nested `torch.save` files.
        case legacy
    }

    /// A symbolic size and the range torch.export proved for it.
    public struct SymbolRange: Sendable, Equatable {
        public var symbol: String
        public var min: Int?
        public var max: Int?
    }

    let archive: TorchArchive
    let program: TorchSchema.ExportedProgram
    let origin: String
    /// The model name in `models/<name>.json` (`model` for torch.export.save).
    let modelName: String
    /// Which of torch.export.save's layouts the archive has.
    let layout: Layout
    /// The schema version the archive was written with.
    public let schemaVersion: (major: Int, minor: Int)
    /// The torch version that wrote the archive, where it says.
    public let torchVersion: String?
    /// Every symbolic size with its range, sorted by symbol.
    public let symbolRanges: [SymbolRange]

    public init(contentsOf url: URL) throws {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw EmberError(.io, "cannot read model file '\(url.path)'")
        }
        try self.init(archive: TorchArchive(contentsOf: url), origin: url.lastPathComponent)
    }

    /// A program from the bytes of a `.pt2` archive.
    public init(bytes: Data, origin: String = "archive") throws {
        try self.init(archive: TorchArchive(bytes: bytes, origin: origin), origin: origin)
    }

    init(archive: TorchArchive, origin: String) throws {
        self.archive = archive
        self.origin = origin
        if archive.contains("archive_format") {
            let format = String(decoding: try archive.read("archive_format"), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard format == "pt2" else {
                throw EmberError(.unsupported, "'\(origin)' has archive format '\(format)', expected 'pt2'")
            }
        }
        let modelPath: String
        if archive.contains(Self.legacyProgramPath) {
            // torch 2.7 and older: the program's JSON at the top, weights in pickled torch.save files.
            (layout, modelPath, modelName) = (.legacy, Self.legacyProgramPath, "model")
        } else {
            let models = archive.paths.filter { $0.hasPrefix("models/") && $0.hasSuffix(".json") }
            guard let path = models.contains("models/model.json") ? "models/model.json" : models.first else {
                throw EmberError(
                    .invalidModel, "'\(origin)' is not a torch.export archive: it has no models/model.json")
            }
            (layout, modelPath) = (.pt2, path)
            modelName = String(path.dropFirst("models/".count).dropLast(".json".count))
        }
        let version = try archive.json(VersionOnly.self, modelPath).schema_version
        guard version.major == Self.supportedSchemaMajor, Self.supportedSchemaMinors.contains(version.minor) else {
            throw EmberError(
                .unsupported,
                "'\(origin)' was written with torch.export schema \(version.major).\(version.minor); Ember reads schemas \(Self.supportedSchemaDescription)")
        }
        program = try archive.json(TorchSchema.ExportedProgram.self, modelPath)
        schemaVersion = (version.major, version.minor)
        torchVersion = program.torch_version
        let constraints = program.range_constraints ?? [:]
        symbolRanges = constraints.keys.sorted().map { key in
            SymbolRange(symbol: key, min: constraints[key]?.min_val, max: constraints[key]?.max_val)
        }
    }

    private struct VersionOnly: Decodable { var schema_version: TorchSchema.SchemaVersion }

    var graph: TorchSchema.Graph { program.graph_module.graph }

    /// A display name for each node: its own name, or `target_index` when it has none.
    func nodeName(_ index: Int) -> String {
        let node = graph.nodes[index]
        if let name = node.name, !name.isEmpty { return name }
        if case .tensor(let name)? = node.outputs.first { return name }
        return "\(TorchOps.shortName(node.target))_\(index)"
    }

    /// The ATen ops Ember cannot import, each with the names of the nodes that use it, sorted by op.
    public var unsupported: [(op: String, nodes: [String])] {
        var found: [String: [String]] = [:]
        for (i, node) in graph.nodes.enumerated() where TorchOps.converter(TorchOps.shortName(node.target)) == nil {
            found[TorchOps.shortName(node.target), default: []].append(nodeName(i))
        }
        return found.keys.sorted().map { ($0, found[$0] ?? []) }
    }

    /// ATen op to node count, sorted by op.
    public var opHistogram: [(op: String, count: Int)] {
        var counts: [String: Int] = [:]
        for node in graph.nodes { counts[TorchOps.shortName(node.target), default: 0] += 1 }
        return counts.keys.sorted().map { ($0, counts[$0, default: 0]) }
    }

    /// The user inputs, in `forward`'s order, with their types.
    public func inputs() throws -> [(name: String, type: TensorType)] {
        try program.graph_module.signature.input_specs.compactMap { spec in
            guard case .userInput(let arg) = spec else { return nil }
            guard case .tensor(let name) = arg else {
                throw EmberError(
                    .unsupported, "'\(origin)' has a user input that is not a tensor (\(Self.describe(arg))); Ember takes tensor inputs only")
            }
            return (name, try type(of: name))
        }
    }

    /// The user outputs, with their types.
    public var outputs: [(name: String, type: TensorType?)] {
        program.graph_module.signature.output_specs.compactMap { spec in
            guard case .userOutput(.tensor(let name)) = spec else { return nil }
            return (name, try? type(of: name))
        }
    }

    /// The declared type of a tensor value.
    func type(of name: String) throws -> TensorType {
        guard let meta = graph.tensor_values[name] else {
            throw EmberError(.invalidModel, "'\(origin)' declares no type for tensor '\(name)'")
        }
        return try Self.type(meta, what: "tensor '\(name)'")
    }

    static func type(_ meta: TorchSchema.TensorMeta, what: String) throws -> TensorType {
        guard let dtype = dtype(meta.dtype) else {
            throw EmberError(.unsupported, "\(what) has torch scalar type \(meta.dtype) (\(scalarTypeName(meta.dtype))), which Ember does not support")
        }
        let dims: [Dim] = meta.sizes.map { size in
            switch size {
            case .int(let v): v >= 0 ? .known(v) : .unknown
            case .expr(let e): TorchSymbolic.dim(e)
            case .other: .unknown
            }
        }
        return TensorType(dtype, dims)
    }

    /// Ember's dtype for a torch `ScalarType` code (`torch/_export/serde/schema.py`).
    static func dtype(_ code: Int) -> DType? {
        switch code {
        case 1: .u8
        case 2: .i8
        case 3: .i16
        case 4: .i32
        case 5: .i64
        case 6: .f16
        case 7: .f32
        case 8: .f64
        case 12: .bool
        case 13: .bf16
        case 28: .u16
        case 34: .u32
        case 35: .u64
        default: nil
        }
    }

    static func scalarTypeName(_ code: Int) -> String {
        switch code {
        case 9, 10, 11: "complex"
        case 29, 30, 31, 32, 33: "float8"
        default: "unknown"
        }
    }

    static func describe(_ arg: TorchSchema.Argument) -> String {
        switch arg {
        case .symInt: "a symbolic int"
        case .int: "an int"
        case .float, .symFloat: "a float"
        case .bool, .symBool: "a bool"
        case .none: "None"
        case .other(let kind): kind
        default: "\(arg)".prefix(40).description
        }
    }
}
