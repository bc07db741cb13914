/// One buffer for `ArenaPacker` to place: its size and when it is alive.
public struct ArenaRequest: Hashable, Sendable {
    public var bytes: Int
    public var lifetime: Lifetime

    public init(bytes: Int, lifetime: Lifetime) {
        self.bytes = bytes
        self.lifetime = lifetime
    }
}

/// Where `ArenaPacker` put each buffer: byte offsets into one arena of `size` bytes.
public struct ArenaLayout: Hashable, Sendable {
    /// Per request, in the order given; each a multiple of the alignment.
    public var offsets: [Int]
    public var size: Int

    public init(offsets: [Int], size: Int) {
        self.offsets = offsets
        self.size = size
    }
}

/// Places buffers with lifetimes in one arena so that buffers alive at the same step get disjoint
/// bytes, and the arena stays small. Every backend's memory plan packs its buffers here.
///
///     let layout = ArenaPacker.pack([ArenaRequest(bytes: 100, lifetime: Lifetime(first: 0, last: 1)),
///                                    ArenaRequest(bytes: 100, lifetime: Lifetime(first: 2, last: 3))],
///                                   alignment: 64)
///     // layout.offsets == [0, 0], layout.size == 128
public enum ArenaPacker {
    /// Each buffer's offset, a multiple of `alignment`, and the arena's size. Each buffer takes
    /// `bytes` rounded up to `alignment` (zero stays zero). Deterministic: the same requests give
    /// the same layout.
    ///
    /// Two greedy orders are tried and the smaller arena is kept (the first on a tie): largest
    /// first, which places the buffers that fragment most while the arena is empty; and earliest
    /// first, which packs chains of values that follow one another without gaps. Each buffer goes
    /// at the lowest offset clear of every buffer already placed whose lifetime overlaps its own.
    public static func pack(_ requests: [ArenaRequest], alignment: Int) -> ArenaLayout {
        let lengths = requests.map { align($0.bytes, alignment) }
        let larger = { (a: Int, b: Int) -> Bool in
            requests[a].bytes != requests[b].bytes ? requests[a].bytes > requests[b].bytes : a < b
        }
        let bySize = requests.indices.sorted(by: larger)
        let byStart = requests.indices.sorted { a, b in
            let (x, y) = (requests[a].lifetime.first, requests[b].lifetime.first)
            return x != y ? x < y : larger(a, b)
        }
        let first = place(requests, lengths, in: bySize)
        let second = place(requests, lengths, in: byStart)
        return second.size < first.size ? second : first
    }

    /// First fit in `order`: each buffer at the lowest offset clear of the overlapping ones placed.
    private static func place(_ requests: [ArenaRequest], _ lengths: [Int], in order: [Int]) -> ArenaLayout {
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [Int] = []
        var size = 0
        for b in order {
            let busy = placed
                .filter { requests[$0].lifetime.overlaps(requests[b].lifetime) }
                .map { (start: offsets[$0], end: offsets[$0] + lengths[$0]) }
                .sorted { $0.start != $1.start ? $0.start < $1.start : $0.end < $1.end }
            var offset = 0
            for range in busy {
                if range.start >= offset + lengths[b] { break }
                offset = max(offset, range.end)
            }
            offsets[b] = offset
            placed.append(b)
            size = max(size, offset + lengths[b])
        }
        return ArenaLayout(offsets: offsets, size: size)
    }

    /// `bytes` rounded up to a multiple of `alignment`.
    public static func align(_ bytes: Int, _ alignment: Int) -> Int {
        (bytes + alignment - 1) / alignment * alignment
    }
}
