import EmberIR
import EmberOps
import Foundation
import Testing

/// `ember ops` against the registry it describes, and docs/OPS.md against `ember ops`.
@Suite struct OpsTableTests {
    /// Ops that run on the reference kernels alone on the CPU, on purpose. Any other op without a
    /// CPU kernel fails `everyOpHasACPUKernelOrIsListed`, and so does a listed op that gains one.
    static let referenceOnlyOnPurpose: Set<String> = [
        // Comparisons, logic and bit operations: the vectorized program computes in one float
        // dtype; these make masks and indices, mostly from constants that folding removes.
        "equal", "less", "less_or_equal", "greater", "greater_or_equal", "and", "or", "xor", "not",
        "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bit_shift", "is_nan", "is_inf",
        // Float to half casts and integer arithmetic: rare in f32 inference graphs.
        "cast", "mod",
        // Rare reductions, normalizations and products.
        "hardmax", "cum_sum", "top_k", "lp_norm", "mean_variance_norm", "einsum", "lp_pool", "global_lp_pool",
        // Indexing and layout ops whose reference loops copy whole elements already.
        "gather_elements", "gather_nd", "scatter_nd", "scatter_elements", "depth_to_space", "space_to_depth",
        "compress", "reverse_sequence", "trilu", "one_hot", "eye_like",
        // Shapes, constants and sizes: computed once or folded away before a run.
        "shape", "size", "constant", "constant_of_shape", "range", "non_zero",
        // An inference no-op that the cleanup passes remove.
        "dropout",
    ]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The built `ember` (EMBER_BIN, else this checkout's debug build), run with `arguments`.
    static func ember(_ arguments: [String]) throws -> String {
        let path = ProcessInfo.processInfo.environment["EMBER_BIN"] ?? root.appendingPathComponent(".build/debug/ember").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "ember \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        return String(decoding: data, as: UTF8.self)
    }

    struct Row: Decodable {
        struct Probe: Decodable {
            var cpu: String
            var cuda: String
        }
        var op: String
        var onnx: [String]
        var probes: [Probe]
    }

    static func table() throws -> [Row] {
        try JSONDecoder().decode([Row].self, from: Data(try ember(["ops", "--json"]).utf8))
    }

    @Test func listsExactlyTheRegisteredOps() throws {
        let rows = try Self.table()
        #expect(rows.map(\.op) == OperatorRegistry.standard.names)
        for row in rows { #expect(!row.probes.isEmpty, "\(row.op) has no representative node") }
        // Spot checks that fail if the probes stop reaching the partitioners.
        let byOp = Dictionary(uniqueKeysWithValues: rows.map { ($0.op, $0) })
        #expect(byOp["relu"]?.onnx == ["Relu"])
        #expect(byOp["conv"]?.probes.first?.cpu == "onednn")
        #expect(byOp["add"]?.probes.last?.cpu == "ember")
        #expect(byOp["matmul"]?.probes.first?.cuda == "cublaslt")
    }

    @Test func everyOpHasACPUKernelOrIsListed() throws {
        for row in try Self.table() {
            let referenceOnly = row.probes.allSatisfy { $0.cpu == "reference" }
            let listed = Self.referenceOnlyOnPurpose.contains(row.op)
            #expect(
                referenceOnly == listed,
                referenceOnly
                    ? "\(row.op) has no CPU kernel: give it one, or list it in referenceOnlyOnPurpose with why"
                    : "\(row.op) has a CPU kernel now: take it off referenceOnlyOnPurpose")
        }
    }

    @Test func docsOpsIsUpToDate() throws {
        let committed = try String(contentsOf: Self.root.appendingPathComponent("docs/OPS.md"), encoding: .utf8)
        let generated = try Self.ember(["ops", "--markdown"])
        #expect(committed == generated, "docs/OPS.md is stale: run `ember ops --markdown > docs/OPS.md`")
    }
}
