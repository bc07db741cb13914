import EmberCPU
import EmberIR
import EmberOps
@testable import EmberRuntime
import EmberTestSupport
import Foundation
import Testing

@Suite struct ShapeProfileTests {
    /// `x: f32[batch, seq, 8]`, plus a constant: y = x * w.
    func graph() throws -> Graph {
        var b = GraphBuilder()
        let x = b.input("x", TensorType(.f32, ["batch", "seq", 8]))
        let w = b.constant(Tensor.random(.f32, [8], seed: 3), name: "w")
        let y = try b.add(Mul(), [x, w], names: ["y"])[0]
        b.output(y)
        return try b.finish()
    }

    func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch let error as EmberError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func parsesRangesSortedBySymbol() throws {
        let profile = try ShapeProfile(parsing: "seq=16:128:512,batch=1:8:16")
        #expect(profile.ranges == [
            ShapeProfile.Range(symbol: "batch", min: 1, opt: 8, max: 16),
            ShapeProfile.Range(symbol: "seq", min: 16, opt: 128, max: 512),
        ])
        #expect(profile.description == "batch=1:8:16,seq=16:128:512")
        #expect(try ShapeProfile(parsing: profile.description) == profile)
        let list = try ShapeProfile.parseList("batch=1:1:1;batch=2:8:16,seq=1:1:4")
        #expect(list.map(\.description) == ["batch=1:1:1", "batch=2:8:16,seq=1:1:4"])
        #expect(try ShapeProfile.parseList("").isEmpty)
    }

    @Test func refusesMalformedRanges() {
        let cases: [(String, String)] = [
            ("batch=1:8", "is not NAME=MIN:OPT:MAX"),
            ("batch=1:8:16:32", "is not NAME=MIN:OPT:MAX"),
            ("batch", "is not NAME=MIN:OPT:MAX"),
            ("=1:2:3", "is not NAME=MIN:OPT:MAX"),
            ("batch=a:2:3", "three integer sizes"),
            ("batch=1:2:99999999999999999999", "three integer sizes"),
            ("batch=8:4:16", "1 <= MIN <= OPT <= MAX"),
            ("batch=1:32:16", "1 <= MIN <= OPT <= MAX"),
            ("batch=0:1:2", "1 <= MIN <= OPT <= MAX"),
            ("batch=-4:1:2", "1 <= MIN <= OPT <= MAX"),
            ("batch=1:2:3,batch=1:2:4", "names 'batch' twice"),
        ]
        for (text, expected) in cases {
            let got = message { _ = try ShapeProfile(parsing: text) }
            #expect(got.contains(expected), "\(text): \(got)")
        }
    }

    @Test func containsChecksEveryNamedSymbolAndLeavesOthersFree() throws {
        let profile = try ShapeProfile(parsing: "batch=1:8:16")
        #expect(profile.contains(["batch": 1, "seq": 100_000]))
        #expect(profile.contains(["batch": 16]))
        #expect(!profile.contains(["batch": 17]))
        #expect(!profile.contains(["batch": 0]))
    }

    @Test func validatesSymbolsAgainstTheGraphAndTorchRanges() throws {
        let graph = try graph()
        #expect(graph.inputSymbols == ["batch", "seq"])
        let unknown = message { try ShapeProfile.validate([try ShapeProfile(parsing: "beam=1:2:4")], for: graph) }
        #expect(unknown.contains("'beam' is not a symbolic dim"), "\(unknown)")
        #expect(unknown.contains("'batch', 'seq'"), "\(unknown)")
        let limited = message {
            try ShapeProfile.validate([try ShapeProfile(parsing: "seq=1:8:1024")], for: graph, limits: ["seq": (1, 512)])
        }
        #expect(limited.contains("outside the range torch.export recorded for 'seq', 1..512"), "\(limited)")
        try ShapeProfile.validate([try ShapeProfile(parsing: "seq=1:8:512")], for: graph, limits: ["seq": (1, 512)])
        // The largest corner of a profile must be countable in bytes.
        let huge = message {
            try ShapeProfile.validate([try ShapeProfile(parsing: "batch=1:1:\(Int.max / 2),seq=1:1:\(Int.max / 2)")], for: graph)
        }
        #expect(huge.contains("at its largest sizes"), "\(huge)")
    }

    @Test func runsRefuseShapesOutsideEveryProfileUnlessRebuildIsAllowed() throws {
        let profiles = [try ShapeProfile(parsing: "batch=1:2:4,seq=1:4:8"), try ShapeProfile(parsing: "batch=8:8:8")]
        var engine = try Engine(graph: try graph(), backend: .cpu, profiles: profiles)
        let inside = Tensor.random(.f32, [3, 5, 8], seed: 1)
        let second = Tensor.random(.f32, [8, 20, 8], seed: 2)
        let outside = Tensor.random(.f32, [5, 5, 8], seed: 3)
        _ = try engine.run(["x": inside])
        _ = try engine.run(["x": second])
        let refused = message { _ = try engine.run(["x": outside]) }
        #expect(refused.contains("batch=5, seq=5 lie outside every shape profile"), "\(refused)")
        #expect(refused.contains("profile 0: batch=1:2:4,seq=1:4:8; profile 1: batch=8:8:8"), "\(refused)")
        // The caller-memory path goes through the same check.
        let view = TensorView(data: .allocate(byteCount: outside.count * 4, alignment: 64), dtype: .f32, shape: outside.shape)
        defer { view.data.deallocate() }
        view.copy(from: outside)
        #expect(message { _ = try engine.run([view]) }.contains("outside every shape profile"))
        engine.allowsRebuild = true
        let expected = try Engine(graph: try graph(), backend: .reference).run(["x": outside])[0].tensor
        let got = try engine.run(["x": outside])[0].tensor
        #expect(zip(got.floats(), expected.floats()).allSatisfy { abs($0 - $1) <= 1e-6 })
    }

    @Test func cpuEnginesPlanEachProfilesOptimalShapesWhenBuilt() throws {
        let profiles = [try ShapeProfile(parsing: "batch=1:2:4,seq=1:4:8"), try ShapeProfile(parsing: "batch=8:8:8")]
        #expect(profiles[0].optimalShapes(for: try graph()) == [[2, 4, 8]])
        #expect(profiles[1].optimalShapes(for: try graph()) == nil)  // 'seq' is free in it
        let engine = try Engine(graph: try graph(), backend: .cpu, profiles: profiles)
        #expect(engine.program?.cachedPlanCount == 1)
        #expect(try Engine(graph: try graph(), backend: .cpu).program?.cachedPlanCount == 0)
    }

    @Test func engineFilesKeepProfilesAndOldEnginesStillLoad() throws {
        let profiles = [try ShapeProfile(parsing: "batch=1:2:4"), try ShapeProfile(parsing: "batch=2:3:9,seq=16:16:32")]
        let engine = try Engine(graph: try graph(), backend: .cpu, profiles: profiles)
        let loaded = try EngineFile.deserialize(try EngineFile.serialize(engine))
        #expect(loaded.profiles == profiles)
        // An engine written without profiles (as every engine before them was) serves any shape.
        let plain = try EngineFile.deserialize(try EngineFile.serialize(try Engine(graph: try graph(), backend: .cpu)))
        #expect(plain.profiles.isEmpty)
        _ = try plain.run(["x": Tensor.random(.f32, [100, 3, 8], seed: 4)])
    }

    @Test func damagedProfilesInAnEngineFileAreRefused() throws {
        let engine = try Engine(graph: try graph(), backend: .reference, profiles: [try ShapeProfile(parsing: "batch=1:2:4")])
        var bytes = [UInt8](try EngineFile.serialize(engine))
        // Swap MIN and MAX in the header (same length), then reseal the checksum.
        let header = Array("\"max\":4,\"min\":1".utf8)
        let swapped = Array("\"max\":1,\"min\":4".utf8)
        guard let at = (0...(bytes.count - header.count)).first(where: { Array(bytes[$0..<($0 + header.count)]) == header }) else {
            Issue.record("the header has no profile range")
            return
        }
        bytes.replaceSubrange(at..<(at + header.count), with: swapped)
        let end = bytes.count
        let checksum = bytes.withUnsafeBytes { Checksum.xxh3(UnsafeRawBufferPointer(rebasing: $0[0..<(end - 12)])) }
        bytes.replaceSubrange((end - 12)..<(end - 4), with: EngineFile.littleEndian(UInt32(truncatingIfNeeded: checksum))
            + EngineFile.littleEndian(UInt32(truncatingIfNeeded: checksum >> 32)))
        let got = message { _ = try EngineFile.deserialize(Data(bytes)) }
        #expect(got.contains("shape profiles are not valid"), "\(got)")
    }
}

@Suite struct BoundedCacheTests {
    @Test func evictsTheLeastRecentlyUsed() {
        var cache = BoundedCache<Int, String>(capacity: 2)
        cache[1] = "a"
        cache[2] = "b"
        #expect(cache[1] == "a")  // 2 is now the least recently used
        cache[3] = "c"
        #expect(cache.count == 2)
        #expect(cache[2] == nil)
        #expect(cache[1] == "a")
        #expect(cache[3] == "c")
        cache[3] = "d"  // replacing evicts nothing
        #expect(cache.count == 2 && cache[1] == "a" && cache[3] == "d")
    }

    @Test func aCPUProgramKeepsAtMostItsCapacityOfPlans() throws {
        var b = GraphBuilder()
        let x = b.input("x", TensorType(.f32, ["n", 4]))
        let y = try b.add(Relu(), [x], names: ["y"])[0]
        b.output(y)
        let program = try CPUProgram(try b.finish(), providers: CPUBackend.providers, planCapacity: 3)
        for n in 1...10 {
            let x = Tensor.random(.f32, [n, 4], seed: UInt64(n))
            let y = try program.run(["x": x])[0].tensor
            #expect(y.floats() == x.floats().map { max($0, 0) })
        }
        #expect(program.cachedPlanCount == 3)
    }
}
