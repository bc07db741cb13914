import ArgumentParser
import EmberIR
import EmberONNX
import Foundation

/// `ember inspect MODEL`: inputs and outputs, the op histogram, and what Ember cannot run.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's inputs and outputs, its ops, and any ops Ember does not support.")

    @Argument(help: "The model (.onnx).")
    var model: String

    @Flag(help: "Print a machine-readable report.")
    var json = false

    @Flag(help: "Print the imported graph in Ember's text IR.")
    var printIR = false

    func run() throws {
        try Ember.reportingErrors {
            guard case .onnx(let onnx) = try ModelFile.open(model) else { return }
            let report = try InspectReport(onnx)
            if printIR {
                print(try onnx.importGraph().text, terminator: "")
            } else if json {
                print(try report.json())
            } else {
                print(report.text, terminator: "")
            }
        }
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

    var format = "onnx"
    var opset: Int
    var inputs: [Port]
    var outputs: [Port]
    var ops_imported: [String: Int]
    var unsupported: [Unsupported]
    private var histogram: [(op: String, count: Int)]

    enum CodingKeys: String, CodingKey { case format, opset, inputs, outputs, ops_imported, unsupported }

    init(_ model: ONNXModel) throws {
        opset = model.opset
        func port(_ name: String, _ type: TensorType?) -> Port {
            Port(name: name, dtype: type?.dtype.rawValue, shape: type?.shape?.map { .dim($0) })
        }
        inputs = try model.inputs().map { port($0.name, $0.type) }
        // Output types come from the imported graph where it can be built, else from the file.
        let graph = try? model.importGraph()
        outputs = model.outputs.map { out in
            let inferred = graph.flatMap { g in g.outputs.first { g.name(of: $0) == out.name }.map(g.type(of:)) }
            return port(out.name, out.type ?? inferred)
        }
        histogram = model.opHistogram
        ops_imported = Dictionary(uniqueKeysWithValues: histogram.map { ($0.op, $0.count) })
        unsupported = model.unsupported.map { Unsupported(op: $0.op, nodes: $0.nodes) }
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
        var out = "format: ONNX, opset \(opset)\n"
        out += "inputs:\n" + inputs.map(describe).joined()
        out += "outputs:\n" + outputs.map(describe).joined()
        let total = histogram.reduce(0) { $0 + $1.count }
        out += "ops (\(total) nodes):\n"
        let width = histogram.map(\.op.count).max() ?? 0
        for (op, count) in histogram {
            out += "  \(op.padding(toLength: width, withPad: " ", startingAt: 0))  \(count)\n"
        }
        if unsupported.isEmpty {
            out += "unsupported ops: none\n"
        } else {
            out += "unsupported ops:\n"
            for u in unsupported { out += "  \(u.op): \(u.nodes.joined(separator: ", "))\n" }
        }
        return out
    }
}
