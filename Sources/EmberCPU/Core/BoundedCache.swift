import Foundation

/// A map that keeps at most `capacity` entries, letting the least recently used go first: the
/// per-shape caches (memory plans, oneDNN primitives) of an engine that sees many input shapes
/// stay bounded instead of growing with every shape it has ever seen.
///
///     var cache = BoundedCache<[Int], String>(capacity: 2)
///     cache[[1]] = "a"; cache[[2]] = "b"; _ = cache[[1]]; cache[[3]] = "c"   // [2] goes
///
/// Not thread-safe by itself: callers hold it under their own lock. Capacities are small (tens of
/// entries), so eviction scans for the oldest entry instead of keeping a linked list.
public struct BoundedCache<Key: Hashable, Value> {
    /// The most entries kept; at least 1.
    public let capacity: Int
    private var entries: [Key: (value: Value, used: UInt64)] = [:]
    private var clock: UInt64 = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The number of entries held.
    public var count: Int { entries.count }

    /// The value for `key`, marked as just used; setting one may evict the least recently used.
    public subscript(key: Key) -> Value? {
        mutating get {
            guard let entry = entries[key] else { return nil }
            clock += 1
            entries[key] = (entry.value, clock)
            return entry.value
        }
        set {
            guard let newValue else {
                entries[key] = nil
                return
            }
            clock += 1
            if entries[key] == nil, entries.count >= capacity,
               let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
                entries[oldest] = nil
            }
            entries[key] = (newValue, clock)
        }
    }
}

/// How many input shapes each CPU engine keeps ready: memory plans, and each oneDNN kernel's
/// primitives. A shape that was let go is planned again when it comes back.
public enum PlanCacheCapacity {
    /// The default: enough for an engine serving a few batch sizes and sequence lengths to keep
    /// every one ready, while one that sees hundreds of shapes holds the primitives of only 32
    /// (about 0.8 MB a shape for a two-layer BERT; more for models with more matrix products).
    public static let standard = 32

    /// `EMBER_PLAN_CACHE_SIZE` when it is a positive integer, else `standard`; read once.
    public static let current: Int = {
        if let text = ProcessInfo.processInfo.environment["EMBER_PLAN_CACHE_SIZE"], let n = Int(text), n > 0 { return n }
        return standard
    }()
}
