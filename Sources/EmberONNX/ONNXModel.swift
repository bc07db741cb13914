import EmberIR
import EmberOps
import Foundation
import SwiftProtobuf

/// An ONNX model file, decoded and checked, ready to be imported as an Ember graph.
///
///     let model = try ONNXModel(contentsOf: URL(fileURLWithPath: "resnet50.onnx"))
///     let graph = try model.importGraph()
public struct ONNXModel {
    /// The default-domain opsets Ember imports. Ops follow their newest semantics; older forms from
    /// opset 13 on are rewritten; below 13, only ops unchanged since then are accepted.
    public static let supportedOpsets = ONNXOpVersions.oldestOpset...28

    let proto: Onnx_ModelProto
    let directory: URL?
    /// The default domain's opset version.
    public let opset: Int

    public init(contentsOf url: URL) throws {
        let file: SafeFile
        do {
            file = try SafeFile.open(url.path)
        } catch let error as EmberError {
            throw EmberError(.io, "cannot read model file: \(error.message)")
        }
        try self.init(file: file, url: url)
    }

    /// The model in `file`, opened at `url`; external data is read from `url`'s folder.
    public init(file: SafeFile, url: URL) throws {
        try self.init(bytes: try file.mapped(), directory: url.deletingLastPathComponent(), origin: url.lastPathComponent)
    }

    /// How deeply messages may nest (graphs inside `If` and `Loop` bodies inside graphs...):
    /// far deeper than any exporter writes, shallow enough that decoding cannot exhaust the stack.
    public static let maximumNesting = 1000

    /// A model from its serialized bytes; external data is resolved in `directory`.
    public init(bytes: Data, directory: URL?, origin: String = "model") throws {
        guard !bytes.isEmpty else { throw EmberError(.invalidModel, "'\(origin)' is empty, not an ONNX model") }
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = Self.maximumNesting
            proto = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch BinaryDecodingError.messageDepthLimit {
            throw EmberError(.invalidModel, "'\(origin)' nests messages (subgraphs) deeper than \(Self.maximumNesting) levels")
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' is not a valid ONNX model: the protobuf is truncated or corrupted (\(error))")
        }
        guard proto.hasGraph, !proto.graph.output.isEmpty else {
            throw EmberError(.invalidModel, "'\(origin)' is not an ONNX model: it has no graph with outputs")
        }
        self.directory = directory
        let versions = proto.opsetImport.filter { $0.domain == "" || $0.domain == "ai.onnx" }.map { Int($0.version) }
        guard let version = versions.max() else {
            throw EmberError(.invalidModel, "'\(origin)' imports no opset of the default ONNX domain")
        }
        guard Self.supportedOpsets.contains(version) else {
            throw EmberError(
                .unsupported,
                "'\(origin)' uses ONNX opset \(version); Ember imports opsets \(Self.supportedOpsets.lowerBound) through \(Self.supportedOpsets.upperBound), and opset 13 or newer for ops that changed since (re-export with opset_version=17 or newer)")
        }
        opset = version
    }

    var graphProto: Onnx_GraphProto { proto.graph }

    /// A display name for each node: its own name, or `OpType_index` when it has none.
    func nodeName(_ index: Int) -> String {
        let node = graphProto.node[index]
        return node.name.isEmpty ? "\(node.opType)_\(index)" : node.name
    }

    private func isDefaultDomain(_ node: Onnx_NodeProto) -> Bool { node.domain == "" || node.domain == "ai.onnx" }

    /// The op types Ember cannot import, each with the names of the nodes that use it, sorted by op type.
    public var unsupported: [(op: String, nodes: [String])] {
        var found: [String: [String]] = [:]
        for (i, node) in graphProto.node.enumerated() {
            let key = isDefaultDomain(node) ? node.opType : "\(node.domain).\(node.opType)"
            if !isDefaultDomain(node) || (ONNXOps.table[node.opType] == nil && node.opType != "Constant") {
                found[key, default: []].append(nodeName(i))
            } else if !ONNXOpVersions.isSupported(node.opType, atOpset: opset) {
                let version = ONNXOpVersions.version(of: node.opType, atOpset: opset).map { "-\($0)" } ?? ""
                found["\(key)\(version) (opset \(opset); Ember needs opset \(ONNXOpVersions.baselineOpset) or newer for it)", default: []]
                    .append(nodeName(i))
            }
        }
        return found.keys.sorted().map { ($0, found[$0] ?? []) }
    }

    /// ONNX op type to node count, sorted by op type.
    public var opHistogram: [(op: String, count: Int)] {
        var counts: [String: Int] = [:]
        for node in graphProto.node { counts[node.opType, default: 0] += 1 }
        return counts.keys.sorted().map { ($0, counts[$0, default: 0]) }
    }

    /// The graph inputs that are not initializers, with their declared types.
    public func inputs() throws -> [(name: String, type: TensorType)] {
        let initialized = Set(graphProto.initializer.map(\.name))
        return try graphProto.input.filter { !initialized.contains($0.name) }.map { ($0.name, try Self.type(of: $0)) }
    }

    /// The graph outputs, with their declared types where the model gives them.
    public var outputs: [(name: String, type: TensorType?)] {
        graphProto.output.map { ($0.name, try? Self.type(of: $0)) }
    }

    static func type(of info: Onnx_ValueInfoProto) throws -> TensorType {
        guard case .tensorType(let t)? = info.type.value else {
            throw EmberError(.unsupported, "value '\(info.name)' is not a tensor (sequences, maps and optionals are not supported)")
        }
        guard let dtype = DType(onnxCode: Int(t.elemType)) else {
            throw EmberError(
                .unsupported,
                "value '\(info.name)' has element type \(t.elemType) (\(ONNXTensorReader.onnxTypeName(Int(t.elemType)))), which Ember does not support")
        }
        guard t.hasShape else { return TensorType(dtype, nil) }
        let dims: [Dim] = t.shape.dim.map { d in
            switch d.value {
            case .dimValue(let v)?: v >= 0 ? .known(Int(clamping: v)) : .unknown
            case .dimParam(let s)? where !s.isEmpty: .symbol(s)
            default: .unknown
            }
        }
        return TensorType(dtype, dims)
    }
}
