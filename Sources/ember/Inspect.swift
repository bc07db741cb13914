import ArgumentParser
import EmberIR
import EmberPasses
import EmberRuntime
import EmberONNX
import EmberTorch
import Foundation

/// `ember inspect MODEL`: inputs and outputs, the op histogram, and what Ember cannot run.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's inputs and outputs, its ops, and any ops Ember does not support.")

    @Argument(help: "The model (.onnx, .pt2 from torch.export.save, Ember text IR, or an engine file).")
    var model: String

    @Flag(help: "Print a machine-readable report.")
    var json = false

    @Flag(help: "Print the optimized graph in Ember's text IR.")
    var printIR = false

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var backend: BackendOptions

    @OptionGroup var shapes: InputShapeOptions

    func run() throws {
        try Ember.reportingErrors {
            let fixed = try shapes.shapes()
            let file = try ModelFile.open(model)
            var backend = backend.backend.resolved
            var fallbackOps = self.backend.fallbackOps
            if case .engine(let engine) = file {
                backend = engine.backend
                fallbackOps = engine.fallbackOps
            }
            var optimized: Graph? = nil
            if case .onnx(let onnx) = file, !onnx.unsupported.isEmpty {
                optimized = nil  // nothing to optimize: the report lists what is missing
            } else if case .torch(let program) = file, !program.unsupported.isEmpty {
                optimized = nil
            } else if case .engine(let engine) = file {
                optimized = try engine.completeGraph()  // already optimized
            } else {
                var graph = try file.graph()
                if !fixed.isEmpty { try Pipeline.specialize(&graph, inputs: fixed) }
                try optimization.optimize(&graph)
                if backend == .cuda { try Engine.lower(&graph, to: self.backend.precision) }
                optimized = graph
            }
            if printIR, let optimized {
                print(optimized.text, terminator: "")
                return
            }
            var report = try InspectReport(file, optimized: optimized)
            if let optimized {
                report.partition = try PartitionReport(optimized, backend: backend, fallbackOps: fallbackOps)
            }
            if json {
                print(try report.json())
            } else {
                print(report.text, terminator: "")
            }
            if self.backend.requireFull {
                try Inspect.requireFull(
                    file, report: report, optimized: optimized, backend: backend, fallbackOps: fallbackOps,
                    precision: self.backend.precision)
            }
        }
    }
}

extension Inspect {
    /// `--require-full`: after the report, refuses a model with ops Ember cannot import or nodes
    /// that an engine for `backend` would run on a reference kernel or on the host.
    static func requireFull(
        _ file: ModelFile, report: InspectReport, optimized: Graph?, backend: Engine.Backend, fallbackOps: Set<String>,
        precision: Precision
    ) throws {
        if !report.unsupported.isEmpty {
            let ops = report.unsupported.map { "\($0.op) (\($0.nodes.joined(separator: ", ")))" }
            throw EmberError(.unsupported, "full compilation refused: Ember does not support " + ops.joined(separator: "; "))
        }
        let engine: Engine
        if case .engine(let built) = file {
            engine = built
        } else if let optimized {
            engine = try Engine(graph: optimized, backend: backend, fallbackOps: fallbackOps, precision: precision)
        } else {
            return
        }
        try NodePlacement.requireFull(try engine.placements(), backend: engine.backend)
    }
}

/// What `inspect` prints, gathered once for both the text and the JSON form.
struct InspectReport: Encodable {
    struct Port: Encodable {
        var name: String
        var dtype: String?
        var shape: [JSONDim]?
    }
    /// A dim in JSON: a number when known, the symbol's name as a string, or null.
    enum JSONDim: Encodable, CustomStringConvertible {
        case dim(Dim)
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .dim(.known(let v)): try c.encode(v)
            case .dim(.symbol(let s)): try c.encode(s)
            case .dim(.unknown): try c.encodeNil()
            }
        }
        var description: String { if case .dim(let d) = self { d.description } else { "?" } }
    }
    struct Unsupported: Encodable {
        var op: String
        var nodes: [String]
    }
    /// A symbolic size and the range torch.export proved for it.
    struct SymbolRange: Encodable {
        var symbol: String
        var min: Int?
        var max: Int?
    }

    var format: String
    var opset: Int?
    /// For torch archives: the schema version and the torch that wrote it.
    var schema: String? = nil
    var torch_version: String? = nil
    var symbols: [SymbolRange]? = nil
    /// For engines with shape profiles: each profile's ranges, by symbol.
    var profiles: [[ShapeProfile.Range]]? = nil
    var inputs: [Port]
    var outputs: [Port]
    var ops_imported: [String: Int]
    var ops_optimized: [String: Int]? = nil
    var unsupported: [Unsupported]
    /// Which kernels run each node of the optimized graph.
    var partition: PartitionReport? = nil
    private var histogram: [(op: String, count: Int)]
    private var optimizedHistogram: [(op: String, count: Int)] = []

    enum CodingKeys: String, CodingKey {
        case format, opset, schema, torch_version, symbols, profiles, inputs, outputs, ops_imported, ops_optimized, unsupported, partition
    }

    init(_ file: ModelFile, optimized: Graph?) throws {
        try self.init(file)
        if let optimized {
            ops_optimized = Dictionary(uniqueKeysWithValues: optimized.opHistogram.map { ($0.op, $0.count) })
            optimizedHistogram = optimized.opHistogram
        }
    }

    init(_ file: ModelFile) throws {
        switch file {
        case .onnx(let model):
            // Output types come from the imported graph where it can be built, else from the file.
            let graph = try? model.importGraph()
            let outputs = model.outputs.map { out in
                let inferred = graph.flatMap { g in g.outputs.first { g.name(of: $0) == out.name }.map(g.type(of:)) }
                return Self.port(out.name, out.type ?? inferred)
            }
            self.init(
                format: "onnx", opset: model.opset, inputs: try model.inputs().map { Self.port($0.name, $0.type) },
                outputs: outputs, histogram: model.opHistogram,
                unsupported: model.unsupported.map { Unsupported(op: $0.op, nodes: $0.nodes) })
        case .torch(let program):
            let graph = try? program.importGraph()
            let outputs = program.outputs.map { out in
                let inferred = graph.flatMap { g in g.outputs.first { g.name(of: $0) == out.name }.map(g.type(of:)) }
                return Self.port(out.name, out.type ?? inferred)
            }
            self.init(
                format: "pt2", opset: nil, inputs: try program.inputs().map { Self.port($0.name, $0.type) },
                outputs: outputs, histogram: program.opHistogram,
                unsupported: program.unsupported.map { Unsupported(op: $0.op, nodes: $0.nodes) })
            schema = "\(program.schemaVersion.major).\(program.schemaVersion.minor)"
            torch_version = program.torchVersion
            symbols = program.symbolRanges.map { SymbolRange(symbol: $0.symbol, min: $0.min, max: $0.max) }
        case .engine(let engine):
            let graph = engine.graph
            self.init(
                format: "engine (\(engine.backend.rawValue))", opset: nil,
                inputs: graph.inputs.map { Self.port(graph.name(of: $0), graph.type(of: $0)) },
                outputs: graph.outputs.map { Self.port(graph.name(of: $0), graph.type(of: $0)) },
                histogram: graph.opHistogram, unsupported: [])
            profiles = engine.profiles.isEmpty ? nil : engine.profiles.map(\.ranges)
        case .text(let graph):
            self.init(
                format: "ember-ir", opset: nil,
                inputs: graph.inputs.map { Self.port(graph.name(of: $0), graph.type(of: $0)) },
                outputs: graph.outputs.map { Self.port(graph.name(of: $0), graph.type(of: $0)) },
                histogram: graph.opHistogram, unsupported: [])
        }
    }

    private init(
        format: String, opset: Int?, inputs: [Port], outputs: [Port], histogram: [(op: String, count: Int)],
        unsupported: [Unsupported]
    ) {
        self.format = format
        self.opset = opset
        self.inputs = inputs
        self.outputs = outputs
        self.histogram = histogram
        self.ops_imported = Dictionary(uniqueKeysWithValues: histogram.map { ($0.op, $0.count) })
        self.unsupported = unsupported
    }

    static func port(_ name: String, _ type: TensorType?) -> Port {
        Port(name: name, dtype: type?.dtype.rawValue, shape: type?.shape?.map { .dim($0) })
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var text: String {
        func describe(_ p: Port) -> String {
            "  \(p.name): \(p.dtype ?? "?")[\(p.shape?.map(\.description).joined(separator: ",") ?? "*")]\n"
        }
        var out: String
        if let schema {
            out = "format: torch.export archive (pt2), schema \(schema)\(torch_version.map { ", written by torch \($0)" } ?? "")\n"
            if let symbols, !symbols.isEmpty {
                out += "symbolic sizes:\n"
                for s in symbols {
                    out += "  \(s.symbol): \(s.min.map(String.init) ?? "?")..\(s.max.map(String.init) ?? "?")\n"
                }
            }
        } else {
            out = opset.map { "format: ONNX, opset \($0)\n" } ?? "format: \(format == "ember-ir" ? "Ember text IR" : format)\n"
        }
        if let profiles {
            out += "shape profiles (MIN:OPT:MAX):\n"
            for (index, ranges) in profiles.enumerated() {
                out += "  profile \(index): \(ranges.map(\.description).joined(separator: ", "))\n"
            }
        }
        out += "inputs:\n" + inputs.map(describe).joined()
        out += "outputs:\n" + outputs.map(describe).joined()
        let total = histogram.reduce(0) { $0 + $1.count }
        out += "ops (\(total) nodes):\n"
        let width = histogram.map(\.op.count).max() ?? 0
        for (op, count) in histogram {
            out += "  \(op.padding(toLength: width, withPad: " ", startingAt: 0))  \(count)\n"
        }
        if !optimizedHistogram.isEmpty {
            let total = optimizedHistogram.reduce(0) { $0 + $1.count }
            out += "ops after optimization (\(total) nodes):\n"
            let width = optimizedHistogram.map(\.op.count).max() ?? 0
            for (op, count) in optimizedHistogram {
                out += "  \(op.padding(toLength: width, withPad: " ", startingAt: 0))  \(count)\n"
            }
        }
        if unsupported.isEmpty {
            out += "unsupported ops: none\n"
        } else {
            out += "unsupported ops:\n"
            for u in unsupported { out += "  \(u.op): \(u.nodes.joined(separator: ", "))\n" }
        }
        if let partition { out += partition.text }
        return out
    }
}
