import EmberIR
import EmberOps
import Testing

/// The shared liveness analysis and arena packer that every backend plans its memory with.
@Suite struct PlanningTests {
    /// A fixed pseudo-random sequence (SplitMix64), so every run packs the same buffers.
    struct Random {
        var state: UInt64
        mutating func next(_ range: ClosedRange<Int>) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return range.lowerBound + Int(z % UInt64(range.count))
        }
    }

    /// Buffers as a program of `steps` steps makes them: each written at a step and read up to a
    /// few steps later, of sizes from a byte to a megabyte.
    static func requests(count: Int, steps: Int, seed: UInt64) -> [ArenaRequest] {
        var random = Random(state: seed)
        return (0..<count).map { _ in
            let first = random.next(0...steps - 1)
            let last = min(steps - 1, first + random.next(0...4))
            let bytes = random.next(0...3) == 0 ? random.next(0...100) : random.next(1...(1 << 20))
            return ArenaRequest(bytes: bytes, lifetime: Lifetime(first: first, last: last))
        }
    }

    /// Today's packer before it moved here, as the bound the shared one must not exceed: largest
    /// first, each at the lowest offset clear of the placed buffers alive at the same time.
    static func largestFirstSize(_ requests: [ArenaRequest], alignment: Int) -> Int {
        let length = requests.map { ArenaPacker.align($0.bytes, alignment) }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [Int] = []
        var size = 0
        for b in requests.indices.sorted(by: { requests[$0].bytes > requests[$1].bytes }) {
            let busy = placed.filter { requests[$0].lifetime.overlaps(requests[b].lifetime) }
                .map { (start: offsets[$0], end: offsets[$0] + length[$0]) }
                .sorted { $0.start < $1.start }
            var offset = 0
            for range in busy where range.start < offset + length[b] { offset = max(offset, range.end) }
            offsets[b] = offset
            placed.append(b)
            size = max(size, offset + length[b])
        }
        return size
    }

    /// Checks the layout's invariants: aligned offsets, buffers alive together apart, all inside
    /// the arena, and the arena no smaller than the bytes alive at the busiest step.
    static func expectValid(_ layout: ArenaLayout, _ requests: [ArenaRequest], alignment: Int) {
        #expect(layout.offsets.count == requests.count)
        let length = requests.map { ArenaPacker.align($0.bytes, alignment) }
        for (i, request) in requests.enumerated() {
            #expect(layout.offsets[i] % alignment == 0, "buffer \(i) at \(layout.offsets[i])")
            #expect(layout.offsets[i] + length[i] <= layout.size, "buffer \(i) ends past the arena")
            for j in requests.indices where j > i && request.lifetime.overlaps(requests[j].lifetime) {
                let apart = layout.offsets[i] + length[i] <= layout.offsets[j] || layout.offsets[j] + length[j] <= layout.offsets[i]
                #expect(apart || length[i] == 0 || length[j] == 0, "buffers \(i) and \(j) are alive together and overlap")
            }
        }
        let steps = Set(requests.flatMap { [$0.lifetime.first, $0.lifetime.last] })
        let busiest = steps.map { step in
            requests.indices.filter { requests[$0].lifetime.first <= step && step <= requests[$0].lifetime.last }
                .map { length[$0] }.reduce(0, +)
        }.max() ?? 0
        #expect(layout.size >= busiest)
    }

    @Test func liveBuffersNeverShareBytesAndOffsetsAreAligned() {
        for (seed, alignment) in [(1, 64), (2, 256), (3, 64), (4, 1), (5, 4096)] {
            let requests = Self.requests(count: 60, steps: 30, seed: UInt64(seed))
            let layout = ArenaPacker.pack(requests, alignment: alignment)
            Self.expectValid(layout, requests, alignment: alignment)
        }
    }

    @Test func arenaIsNoLargerThanLargestFirstAlone() {
        var smaller = 0
        for seed in 10..<30 {
            let requests = Self.requests(count: 40, steps: 20, seed: UInt64(seed))
            let packed = ArenaPacker.pack(requests, alignment: 64).size
            let bound = Self.largestFirstSize(requests, alignment: 64)
            #expect(packed <= bound, "seed \(seed)")
            if packed < bound { smaller += 1 }
        }
        // Largest first puts the 192-byte buffer at 0 and leaves the two 128-byte ones alive
        // with it nowhere lower than 256; earliest first packs them in 320 bytes.
        let holes = [
            ArenaRequest(bytes: 192, lifetime: Lifetime(first: 5, last: 5)),
            ArenaRequest(bytes: 128, lifetime: Lifetime(first: 2, last: 2)),
            ArenaRequest(bytes: 128, lifetime: Lifetime(first: 2, last: 4)),
            ArenaRequest(bytes: 128, lifetime: Lifetime(first: 4, last: 5)),
        ]
        let layout = ArenaPacker.pack(holes, alignment: 64)
        Self.expectValid(layout, holes, alignment: 64)
        #expect(Self.largestFirstSize(holes, alignment: 64) == 384)
        #expect(layout.size == 320)
        #expect(smaller > 0, "earliest first never won on the random buffers")
    }

    @Test func packingIsDeterministic() {
        let requests = Self.requests(count: 80, steps: 40, seed: 99)
        let first = ArenaPacker.pack(requests, alignment: 64)
        for _ in 0..<3 { #expect(ArenaPacker.pack(requests, alignment: 64) == first) }
        // Equal sizes and lifetimes are placed in the order given.
        let same = [ArenaRequest](repeating: ArenaRequest(bytes: 100, lifetime: Lifetime(first: 0, last: 0)), count: 3)
        #expect(ArenaPacker.pack(same, alignment: 64) == ArenaLayout(offsets: [0, 128, 256], size: 384))
    }

    @Test func buffersAliveAtDifferentTimesShareBytes() {
        let requests = [
            ArenaRequest(bytes: 100, lifetime: Lifetime(first: 0, last: 1)),
            ArenaRequest(bytes: 100, lifetime: Lifetime(first: 2, last: 3)),
            ArenaRequest(bytes: 0, lifetime: Lifetime(first: 0, last: 3)),
        ]
        #expect(ArenaPacker.pack(requests, alignment: 64) == ArenaLayout(offsets: [0, 0, 0], size: 128))
        #expect(ArenaPacker.pack([], alignment: 64) == ArenaLayout(offsets: [], size: 0))
    }

    @Test func lifetimesRunFromDefinitionToLastReadWithOutputsToTheEnd() {
        // 0 is an input; step 0: 1 = f(0); step 1: 2 = g(1, 0); step 2: 3 = h(1); outputs 2 and 3.
        // 4 is never touched.
        let steps = [
            StepAccess(reads: [0], writes: [1]),
            StepAccess(reads: [1, 0], writes: [2]),
            StepAccess(reads: [1], writes: [3]),
        ]
        let lifetimes = Liveness.lifetimes(count: 5, steps: steps, inputs: [0], outputs: [2, 3])
        #expect(lifetimes == [
            Lifetime(first: -1, last: 1), Lifetime(first: 0, last: 2), Lifetime(first: 1, last: 3),
            Lifetime(first: 2, last: 3), nil,
        ])
        // A value written and never read lives for its step.
        #expect(Liveness.lifetimes(count: 1, steps: [StepAccess(reads: [], writes: [0])]) == [Lifetime(first: 0, last: 0)])
    }

    @Test func graphLifetimesFollowTheNodes() throws {
        let graph = try Graph(parsing: """
            graph @main(%x: f32[4]) {
              %a = relu(%x) : f32[4]
              %b = exp(%a) : f32[4]
              %c = add(%a, %b) : f32[4]
              return %c, %a
            }
            """, registry: .standard)
        let lifetimes = Liveness.lifetimes(of: graph)
        let byName = Dictionary(uniqueKeysWithValues: graph.values.indices.map { (graph.name(of: ValueID($0)), lifetimes[$0]) })
        #expect(byName["x"] == Lifetime(first: -1, last: 0))
        #expect(byName["b"] == Lifetime(first: 1, last: 2))
        #expect(byName["a"] == Lifetime(first: 0, last: 3))
        #expect(byName["c"] == Lifetime(first: 2, last: 3))
    }
}
