import EmberIR
import EmberOps
import EmberPasses
import EmberReference
import EmberTestSupport
import Foundation
import Testing

/// One golden case: IR in, the passes to run, and the IR expected out (or "unchanged").
///
/// Files in `Golden/` hold cases separated by `// -----`:
///
///     // RUN: dead-code
///     graph @main(%x: f32[4]) { ... }
///     // EXPECT:
///     graph @main(%x: f32[4]) { ... }
struct GoldenCase: CustomTestStringConvertible, Sendable {
    var file: String
    var index: Int
    var passes: [String]
    var input: String
    /// nil when the case expects the graph unchanged.
    var expected: String?

    var testDescription: String { "\(file) #\(index) (\(passes.joined(separator: ",")))" }

    static let all: [GoldenCase] = {
        guard let directory = Bundle.module.url(forResource: "Golden", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(atPath: directory.path)
        else { return [] }
        return files.sorted().filter { $0.hasSuffix(".ember") }.flatMap { file -> [GoldenCase] in
            let text = (try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)) ?? ""
            return text.components(separatedBy: "// -----").enumerated().compactMap { index, chunk in
                parse(chunk, file: file, index: index)
            }
        }
    }()

    static func parse(_ chunk: String, file: String, index: Int) -> GoldenCase? {
        let lines = chunk.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let run = lines.first(where: { $0.hasPrefix("// RUN:") }),
            let expectAt = lines.firstIndex(where: { $0.hasPrefix("// EXPECT:") }),
            let runAt = lines.firstIndex(of: run)
        else { return nil }
        let passes = run.dropFirst("// RUN:".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let input = lines[(runAt + 1)..<expectAt].joined(separator: "\n")
        let unchanged = lines[expectAt].contains("unchanged")
        let expected = lines[(expectAt + 1)...].joined(separator: "\n")
        return GoldenCase(file: file, index: index, passes: passes, input: input, expected: unchanged ? nil : expected)
    }
}

@Suite struct GoldenTests {
    let registry = OperatorRegistry.standard

    func manager(_ names: [String]) throws -> PassManager {
        let passes = try names.map { name -> any Pass in
            guard let pass = Pipeline.pass(named: name) else {
                throw EmberError(.invalidArgument, "unknown pass '\(name)'")
            }
            return pass
        }
        var manager = PassManager(passes)
        manager.verifyEachPass = true
        return manager
    }

    @Test(arguments: GoldenCase.all)
    func passGivesExpectedIR(_ golden: GoldenCase) throws {
        let original = try Graph(parsing: golden.input, registry: registry)
        var graph = original
        let stats = try manager(golden.passes).run(&graph)
        if let expected = golden.expected {
            let want = try Graph(parsing: expected, registry: registry).text
            #expect(graph.text == want)
            #expect(stats.contains { $0.changed }, "the passes changed the graph but did not say so")
        } else {
            #expect(graph.text == original.text)
            #expect(!stats.contains { $0.changed }, "the passes left the graph alone but said they changed it")
        }
    }

    @Test(arguments: GoldenCase.all)
    func runningTwiceEqualsRunningOnce(_ golden: GoldenCase) throws {
        var once = try Graph(parsing: golden.input, registry: registry)
        try manager(golden.passes).run(&once)
        var twice = once
        let stats = try manager(golden.passes).run(&twice)
        #expect(twice.text == once.text)
        #expect(!stats.contains { $0.changed })
    }

    @Test(arguments: GoldenCase.all)
    func referenceOutputsAreUnchanged(_ golden: GoldenCase) throws {
        let original = try Graph(parsing: golden.input, registry: registry)
        var optimized = original
        try manager(golden.passes).run(&optimized)
        try expectSameOutputs(original, optimized)
    }
}

/// Runs both graphs on the same random inputs (symbolic dims set to 3) and expects outputs equal
/// within 1e-5 of the largest reference magnitude.
func expectSameOutputs(_ a: Graph, _ b: Graph, seed: UInt64 = 7) throws {
    var feeds: [String: Tensor] = [:]
    for (i, id) in a.inputs.enumerated() {
        let type = a.type(of: id)
        let shape = (type.shape ?? []).map { $0.value ?? 3 }
        let range: ClosedRange<Double> = type.dtype.isFloatingPoint ? -2...2 : 0...2
        feeds[a.name(of: id)] = Tensor.random(type.dtype, shape, in: range, seed: seed + UInt64(i))
    }
    let expected = try ReferenceBackend().run(a, inputs: feeds)
    let actual = try ReferenceBackend().run(b, inputs: feeds)
    #expect(actual.map(\.name) == expected.map(\.name))
    for (x, y) in zip(actual, expected) {
        let error = x.tensor.relativeError(to: y.tensor)
        #expect((error ?? .infinity) <= 1e-5, "output \(y.name): relative error \(String(describing: error))")
    }
}
