import EmberFuzzTargets
import Foundation
import Testing

/// The fuzzer's corpus, replayed through the same readers: every seed is read without a crash,
/// and every input the fuzzer once crashed a reader with (`fuzz/regressions`) is refused with an
/// `EmberError`.
@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    static func files(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let dir = root.appendingPathComponent(folder).appendingPathComponent(target.folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedsAreReadWithoutCrashing(_ target: FuzzTarget) throws {
        let seeds = Self.files("corpus", target)
        #expect(!seeds.isEmpty, "fuzz/corpus/\(target.folder) has no seeds")
        for url in seeds {
            _ = try target.run(try Data(contentsOf: url))
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func crashingInputsAreRefused(_ target: FuzzTarget) throws {
        for url in Self.files("regressions", target) {
            let outcome = try target.run(try Data(contentsOf: url))
            guard case .refused(let message) = outcome else {
                Issue.record("\(url.lastPathComponent) was accepted; it should be refused")
                continue
            }
            #expect(!message.isEmpty, "\(url.lastPathComponent) was refused without a message")
        }
    }
}
