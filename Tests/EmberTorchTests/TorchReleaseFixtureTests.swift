import EmberIR
import EmberReference
@testable import EmberTorch
import EmberTestSupport
import Foundation
import Testing

/// The archives each supported torch release writes (`tests/fixtures/pt2/torch-<release>/`, made
/// by `scripts/generate-pt2-fixtures.py`), with the inputs and that release's eager outputs.
struct TorchReleaseFixture: Sendable, CustomTestStringConvertible {
    struct Run: Decodable, Sendable {
        var batch: Int
        var inputs: [String]
        var outputs: [String]
    }

    private struct Manifest: Decodable {
        struct Model: Decodable {
            var name: String
            var archive: String
            var runs: [Run]
        }
        var torch: String
        var models: [Model]
    }

    var release: String
    var torch: String
    var name: String
    var folder: URL
    var archive: String
    var runs: [Run]

    var testDescription: String { "torch \(release) \(name)" }

    /// The releases whose archives Ember must read: the oldest, the GPU machine's and the newest.
    static let releases = ["2.6", "2.7", "2.11", "2.15"]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("tests/fixtures/pt2")

    static func manifest(_ release: String) throws -> [TorchReleaseFixture] {
        let folder = root.appendingPathComponent("torch-\(release)")
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
        return manifest.models.map {
            TorchReleaseFixture(
                release: release, torch: manifest.torch, name: $0.name, folder: folder, archive: $0.archive, runs: $0.runs)
        }
    }

    /// Every fixture of every release; a release whose manifest is missing is reported by
    /// `everyReleaseHasFixtures`.
    static let all: [TorchReleaseFixture] = releases.flatMap { (try? manifest($0)) ?? [] }
}

@Suite struct TorchReleaseFixtureTests {
    @Test func everyReleaseHasFixtures() throws {
        for release in TorchReleaseFixture.releases {
            let fixtures = try TorchReleaseFixture.manifest(release)
            #expect(fixtures.count >= 3, "torch \(release) has \(fixtures.count) fixtures")
            #expect(fixtures.allSatisfy { $0.torch.hasPrefix(release + ".") }, "torch \(release)")
        }
    }

    /// Imports the archive and runs it on the reference backend at each recorded batch: the exported
    /// one and another in the symbolic range. Outputs must match torch eager within 1e-4.
    @Test(arguments: TorchReleaseFixture.all)
    func matchesEagerOutputs(_ fixture: TorchReleaseFixture) throws {
        let program = try TorchProgram(contentsOf: fixture.folder.appendingPathComponent(fixture.archive))
        #expect(program.torchVersion?.hasPrefix(fixture.torch) == true)
        #expect(program.layout == (["2.6", "2.7"].contains(fixture.release) ? .legacy : .pt2))
        #expect(!program.symbolRanges.isEmpty, "the batch is symbolic")
        let graph = try program.importGraph()
        let inputs = try program.inputs()
        for input in inputs {
            #expect(input.type.shape?.first.map { $0.value == nil && $0 != .unknown } == true, "\(input.name) has a symbolic batch: \(input.type)")
        }
        #expect(Set(fixture.runs.map(\.batch)).count >= 2)
        for run in fixture.runs {
            var feeds: [String: Tensor] = [:]
            for (input, file) in zip(inputs, run.inputs) {
                feeds[input.name] = try Tensor(npyAt: fixture.folder.appendingPathComponent(file))
            }
            let results = try ReferenceBackend().run(graph, inputs: feeds)
            #expect(results.count == run.outputs.count)
            for (result, file) in zip(results, run.outputs) {
                let expected = try Tensor(npyAt: fixture.folder.appendingPathComponent(file))
                let error = result.tensor.relativeError(to: expected)
                #expect(error != nil && error! <= 1e-4, "batch \(run.batch) \(result.name): relative error \(String(describing: error))")
            }
        }
    }
}
