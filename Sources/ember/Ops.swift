import ArgumentParser
import EmberCPU
import EmberCUDA
import EmberIR
import EmberONNX
import EmberOps
import EmberTorch
import Foundation

/// `ember ops`: every registered op, where it is imported from and which kernels run it.
///
/// Nothing here is a list of what runs where: each op is put, as a small representative graph,
/// through the CPU partitioner and the CUDA placement that real graphs go through, so the table
/// says what the code does today.
struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every op with its ONNX and ATen sources and the kernels that run it.")

    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print the Markdown table of docs/OPS.md.") var markdown = false

    func run() throws {
        try Ember.reportingErrors {
            let table = try OpCoverage.all()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(table), as: UTF8.self))
            } else if markdown {
                print(OpCoverage.markdown(table), terminator: "")
            } else {
                print(OpCoverage.text(table), terminator: "")
            }
        }
    }
}

/// Where one op comes from and what runs it.
struct OpCoverage: Encodable {
    /// One representative node and the kernels each backend gives it.
    struct Probe: Encodable {
        /// The node's input types, as the text IR writes them.
        var node: String
        /// "onednn", "ember" or "reference".
        var cpu: String
        /// Why each CPU provider preferred over `cpu` declined the node.
        var cpuDeclined: [String]
        /// "generated", "cublaslt", "cudnn", "view", or "cpu" where the node falls back.
        var cuda: String
        /// Why the CUDA backend leaves the node to the CPU.
        var cudaReason: String?
    }

    var op: String
    /// ONNX op types (default domain) imported as this op.
    var onnx: [String]
    /// ATen targets named after this op (`aten.relu.default` for `relu`); ATen ops whose
    /// converters emit differently named ops are not listed.
    var aten: [String]
    /// The reference backend runs every op.
    var reference = true
    var probes: [Probe]

    /// The CPU providers a probe may go to, in the CPU backend's order, oneDNN's decision taken as
    /// where it is loaded so that the table is the same on every machine.
    private static let cpuProviders: [any CPUKernelProvider] = [
        DecisionOnly(base: OneDNNKernels(), decide: OneDNNKernels.wouldSupport), EmberKernels(), ReferenceKernels(),
    ]

    static func all(_ registry: OperatorRegistry = .standard) throws -> [OpCoverage] {
        var onnx: [String: [String]] = [:]
        for opType in ONNXOps.table.keys {
            if let op = ONNXOps.product(of: opType) { onnx[op.name, default: []].append(opType) }
        }
        var aten: [String: [String]] = [:]
        for target in TorchOps.table.keys {
            let parts = target.split(separator: ".")
            guard parts.count >= 2, parts[0] == "aten" else { continue }
            aten[String(parts[1]), default: []].append(target)
        }
        return try registry.names.map { name in
            // An op with no representative node is listed with no probes (a test refuses that).
            let graphs = (try? OpExamples.graphs(for: name, registry)) ?? []
            return OpCoverage(
                op: name, onnx: (onnx[name] ?? []).sorted(), aten: (aten[name] ?? []).sorted(),
                probes: try graphs.map(probe))
        }
    }

    /// The kernels every backend gives the one node of `graph`.
    private static func probe(_ graph: Graph) throws -> Probe {
        let node = graph.nodes[0]
        let types = node.inputs.map { $0.map { "\(graph.type(of: $0))" } ?? "_" }.joined(separator: ", ")
        let partition = try Partition(graph, providers: cpuProviders)
        let cpu = partition.assignments[0]
        let placed = CUDAGraphExecutor.placements(graph)[0]
        let cuda: String
        switch placed.placement {
        case "cuda": cuda = CUDAGraphExecutor.libraries(graph)[0] ?? "cuda"
        case "host": cuda = "cpu"
        default: cuda = placed.placement
        }
        return Probe(
            node: "\(node.op.name)(\(types))", cpu: cpu.providerName,
            cpuDeclined: cpu.declined.map { "\($0.provider): \($0.reason)" }, cuda: cuda,
            cudaReason: placed.placement == "host" ? placed.reason : nil)
    }

    /// Whether no CPU kernel faster than the reference runs any probe of this op.
    var referenceOnlyOnCPU: Bool { probes.allSatisfy { $0.cpu == "reference" } }

    /// "ember", or "onednn (f32[2,4,8,8]); ember (f32[4,8])" where probes differ.
    var cpuSummary: String { Self.summary(probes.map { ($0.cpu, $0.node) }) }
    var cudaSummary: String { Self.summary(probes.map { ($0.cuda, $0.node) }) }

    private static func summary(_ placed: [(kernel: String, node: String)]) -> String {
        if placed.isEmpty { return "no example" }
        let kernels = placed.map(\.kernel)
        if Set(kernels).count <= 1 { return kernels.first ?? "" }
        return placed.map { "\($0.kernel) for \($0.node)" }.joined(separator: "; ")
    }

    static func text(_ table: [OpCoverage]) -> String {
        let rows = table.map { [$0.op, $0.onnx.joined(separator: ","), $0.aten.count.description, $0.cpuSummary, $0.cudaSummary] }
        let header = ["op", "onnx", "aten", "cpu", "cuda"]
        let widths = (0..<4).map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in c < 4 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) : cell }
                .joined(separator: "  ") + "\n"
        }
        return line(header) + rows.map(line).joined()
    }

    static func markdown(_ table: [OpCoverage]) -> String {
        var out = """
            # Ops

            Generated by `ember ops --markdown`; a test checks that it is up to date. Each op is run, as a
            representative node (its input types in the CPU and CUDA columns where they differ), through the
            CPU partitioner and the CUDA placement that real graphs go through. The reference backend runs
            every op. CPU: `onednn` (oneDNN's primitives, where the library is loaded), `ember` (Ember's own
            kernels) or `reference`. CUDA: `generated` (CUDA C++ Ember writes), `cublaslt`, `cudnn`, `view`
            (no kernel) or `cpu` (the node runs on the CPU backend). ATen lists the targets named after the op.

            | op | ONNX | ATen | CPU | CUDA |
            | --- | --- | --- | --- | --- |

            """
        for row in table {
            let cells = [
                "`\(row.op)`", row.onnx.joined(separator: ", "), row.aten.map { "`\($0)`" }.joined(separator: ", "),
                row.cpuSummary, row.cudaSummary,
            ].map { $0.replacingOccurrences(of: "|", with: "\\|") }
            out += "| " + cells.joined(separator: " | ") + " |\n"
        }
        return out
    }
}

/// A provider whose support is another function's decision; it builds no kernels (`ember ops`
/// only partitions).
private struct DecisionOnly: CPUKernelProvider {
    var base: any CPUKernelProvider
    var decide: @Sendable (KernelNode) -> KernelSupport
    var name: String { base.name }
    func support(_ node: KernelNode) -> KernelSupport { decide(node) }
    func makeKernel(_ node: KernelNode) throws -> any CPUKernel { try base.makeKernel(node) }
}

/// Representative one-node graphs for each op, to put through the partitioners.
enum OpExamples {
    /// One input of an example node.
    enum Input {
        case value(TensorType)
        case constant(Tensor)
        case absent
    }

    /// An op's attributes and inputs in one representative node.
    struct Example {
        var attributes: [(String, Attribute)] = []
        var inputs: [Input]
        init(_ attributes: [(String, Attribute)] = [], _ inputs: Input...) {
            self.attributes = attributes
            self.inputs = inputs
        }
    }

    private static func x(_ dims: Int..., dtype: DType = .f32) -> Input { .value(TensorType(dtype, known: dims)) }
    private static func ints(_ values: Int..., shape: [Int]? = nil) -> Input {
        .constant(Tensor(shape: shape ?? [values.count], int64s: values.map(Int64.init)))
    }
    private static func floats(_ values: Double...) -> Input {
        .constant(Tensor(.f32, shape: [values.count], doubles: values))
    }

    /// Examples for ops that cannot be built from their defaults on same-shape f32 inputs (a
    /// required attribute, an integer or bool input, a constant that says a shape); a test checks
    /// that every registered op has one, here or by default.
    static let explicit: [String: [Example]] = [
        "and": [Example([], x(4, 8, dtype: .bool), x(4, 8, dtype: .bool))],
        "or": [Example([], x(4, 8, dtype: .bool), x(4, 8, dtype: .bool))],
        "xor": [Example([], x(4, 8, dtype: .bool), x(4, 8, dtype: .bool))],
        "not": [Example([], x(4, 8, dtype: .bool))],
        "bitwise_and": [Example([], x(4, 8, dtype: .i32), x(4, 8, dtype: .i32))],
        "bitwise_or": [Example([], x(4, 8, dtype: .i32), x(4, 8, dtype: .i32))],
        "bitwise_xor": [Example([], x(4, 8, dtype: .i32), x(4, 8, dtype: .i32))],
        "bitwise_not": [Example([], x(4, 8, dtype: .i32))],
        "bit_shift": [Example([("direction", .string("LEFT"))], x(4, 8, dtype: .u32), x(4, 8, dtype: .u32))],
        "where": [Example([], x(4, 8, dtype: .bool), x(4, 8), x(4, 8))],
        "cast": [Example([("to", .dtype(.f16))], x(4, 8))],
        "cum_sum": [Example([], x(4, 8), .constant(Tensor(shape: [], int64s: [1])))],
        "top_k": [Example([], x(4, 8), ints(2))],
        "batch_norm": [Example([], x(2, 4, 8, 8), floats(1, 1, 1, 1), floats(0, 0, 0, 0), floats(0, 0, 0, 0), floats(1, 1, 1, 1))],
        "group_norm": [Example([("num_groups", .int(2))], x(2, 4, 8, 8), floats(1, 1, 1, 1), floats(0, 0, 0, 0))],
        "instance_norm": [Example([], x(2, 4, 8, 8), floats(1, 1, 1, 1), floats(0, 0, 0, 0))],
        "layer_norm": [Example([], x(4, 8), floats(1, 1, 1, 1, 1, 1, 1, 1), floats(0, 0, 0, 0, 0, 0, 0, 0))],
        "rms_norm": [Example([], x(4, 8), floats(1, 1, 1, 1, 1, 1, 1, 1))],
        "gemm": [Example([], x(4, 8), x(8, 16))],
        "einsum": [Example([("equation", .string("ij,jk->ik"))], x(4, 8), x(8, 16))],
        "linear": [Example([], x(4, 8), x(8, 16))],
        "max_pool": [Example([("kernel_shape", .ints([2, 2]))], x(2, 4, 8, 8))],
        "average_pool": [Example([("kernel_shape", .ints([2, 2]))], x(2, 4, 8, 8))],
        "lp_pool": [Example([("kernel_shape", .ints([2, 2]))], x(2, 4, 8, 8))],
        "reshape": [Example([], x(2, 4, 8, 8), ints(8, 64))],
        "unsqueeze": [Example([], x(4, 8), ints(0))],
        "concat": [Example([("axis", .int(1))], x(4, 8), x(4, 8))],
        "slice": [Example([], x(4, 8), ints(1), ints(3), ints(1))],
        "expand": [Example([], x(4, 1), ints(4, 8))],
        "tile": [Example([], x(4, 8), ints(2, 1))],
        "pad": [Example([], x(2, 4, 8, 8), ints(0, 0, 1, 1, 0, 0, 1, 1))],
        "gather": [Example([], x(4, 8), x(3, dtype: .i64))],
        "gather_elements": [Example([], x(4, 8), x(4, 8, dtype: .i64))],
        "gather_nd": [Example([], x(4, 8), x(3, 1, dtype: .i64))],
        "scatter_nd": [Example([], x(4, 8), x(2, 1, dtype: .i64), x(2, 8))],
        "scatter_elements": [Example([], x(4, 8), x(2, 8, dtype: .i64), x(2, 8))],
        "depth_to_space": [Example([("blocksize", .int(2))], x(2, 4, 8, 8))],
        "space_to_depth": [Example([("blocksize", .int(2))], x(2, 4, 8, 8))],
        "resize": [Example([], x(2, 4, 8, 8), .absent, floats(1, 1, 2, 2))],
        "constant": [Example([("value", .tensor(Tensor(shape: [4], floats: [1, 2, 3, 4])))])],
        "constant_of_shape": [Example([], ints(4, 8))],
        "range": [Example([], .constant(Tensor(shape: [], int64s: [0])), .constant(Tensor(shape: [], int64s: [8])),
                          .constant(Tensor(shape: [], int64s: [1])))],
        "one_hot": [Example([], x(4, dtype: .i64), .constant(Tensor(shape: [], int64s: [8])), floats(0, 1))],
        "compress": [Example([("axis", .int(0))], x(4, 8), .constant(Tensor(shape: [4], bools: [true, false, true, true])))],
        "reverse_sequence": [Example([("batch_axis", .int(1)), ("time_axis", .int(0))], x(4, 8), x(8, dtype: .i64))],
        "fused_elementwise": [
            Example([("names", .strings(["a"])), ("steps", .strings(["add($0, $1)", "relu(%0)"]))], x(4, 8), x(4, 8))
        ],
        "fused_epilogue": [
            Example([("names", .strings(["m"])), ("steps", .strings(["matmul($0, $1)", "relu(%0)"]))], x(4, 8), x(8, 16))
        ],
    ]

    /// The op's explicit examples, else the op with default attributes on f32 inputs of rank 4
    /// and rank 2 (the CPU backend decides some ops by rank), each one that the op accepts.
    static func graphs(for name: String, _ registry: OperatorRegistry) throws -> [Graph] {
        if let examples = explicit[name] {
            return try examples.map { example in
                let op = try registry.make(name, Attributes(op: name, example.attributes))
                var builder = GraphBuilder()
                let inputs: [ValueID?] = example.inputs.enumerated().map { i, input in
                    switch input {
                    case .value(let type): builder.input("x\(i)", type)
                    case .constant(let tensor): builder.constant(tensor, name: "c\(i)")
                    case .absent: nil
                    }
                }
                return try graph(&builder, op, inputs)
            }
        }
        let op = try registry.make(name, Attributes(op: name))
        let arity = type(of: op).inputArity.lowerBound
        var graphs: [Graph] = []
        for shape in [[2, 4, 8, 8], [8, 8]] {
            var builder = GraphBuilder()
            let inputs: [ValueID?] = (0..<arity).map { builder.input("x\($0)", TensorType(.f32, known: shape)) }
            if let graph = try? graph(&builder, op, inputs) { graphs.append(graph) }
        }
        if graphs.isEmpty {
            throw EmberError(.internalError, "\(name) has no example and refuses f32 inputs of its defaults")
        }
        return graphs
    }

    private static func graph(_ builder: inout GraphBuilder, _ op: any Operator, _ inputs: [ValueID?]) throws -> Graph {
        let outputs = try builder.add(op, inputs, outputs: type(of: op).outputArity.lowerBound, nodeName: op.name)
        outputs.forEach { builder.output($0) }
        return try builder.finish()
    }
}
