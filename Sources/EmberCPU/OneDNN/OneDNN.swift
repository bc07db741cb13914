import EmberDNNL
import EmberIR
import Foundation

/// oneDNN, the system library behind the CPU backend's convolutions, matrix products and pools.
/// It is loaded at run time, so Ember runs without it (and without these kernels) where it is
/// missing; `status` says which.
public enum OneDNN {
    /// Whether oneDNN can be used here.
    public enum Status: Sendable, Equatable, CustomStringConvertible {
        /// Loaded; `version` reads like "2.6.3".
        case available(version: String)
        /// Not loaded: which library was looked for and why it did not load.
        case unavailable(reason: String)

        public var isAvailable: Bool { if case .available = self { true } else { false } }

        public var description: String {
            switch self {
            case .available(let version): "oneDNN \(version)"
            case .unavailable(let reason): "oneDNN unavailable: \(reason)"
            }
        }
    }

    /// The library looked for: `EMBER_ONEDNN_LIBRARY` when set, else `libdnnl.so.2`.
    public static var libraryPath: String {
        ProcessInfo.processInfo.environment["EMBER_ONEDNN_LIBRARY"] ?? "libdnnl.so.2"
    }

    /// The library's status in this process, from the first load of `libraryPath`.
    public static let status: Status = {
        limitSpinning()
        limitPrimitiveCache()
        return load(path: libraryPath)
    }()

    /// The primitives oneDNN keeps in its own cache, where the user has not chosen. Ember's
    /// kernels keep the primitives of their most recent shapes themselves (`PlanCacheCapacity`);
    /// oneDNN's cache (1,024 by default) would keep those of every shape since, JIT code and all,
    /// so an engine serving hundreds of shapes grew by tens of megabytes. 256 still lets a shape
    /// that comes back after its plans were let go find most of its primitives there.
    private static func limitPrimitiveCache() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == nil, environment["DNNL_PRIMITIVE_CACHE_CAPACITY"] == nil else { return }
        setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "256", 0)
    }

    /// oneDNN's OpenMP threads spin at each barrier, by default for about 300,000 turns. That pays
    /// off only while every thread has a core to itself: where other work shares the cores
    /// (another run, another process) a spinning thread takes the core its partner needs, and a
    /// run gets tens of times slower. (Ember's own kernels run on these threads: `onOpenMPThreads`.) Sleeping at once instead
    /// doubles MobileNetV2's time on an idle machine (wake-ups cost more than its small layers).
    /// So unless the user chose a policy, threads spin briefly (10,000 turns), then sleep. OpenMP
    /// reads this when it loads, so it has no effect where the process loaded OpenMP before.
    private static func limitSpinning() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OMP_WAIT_POLICY"] == nil, environment["GOMP_SPINCOUNT"] == nil else { return }
        setenv("GOMP_SPINCOUNT", "10000", 0)
    }

    /// Loads the library at `path` (a name the dynamic loader searches for, or a file) and
    /// resolves the functions Ember uses. Once one load has succeeded, later loads only check that
    /// `path` opens.
    public static func load(path: String) -> Status {
        var message = [CChar](repeating: 0, count: 1024)
        let failed = ember_dnnl_load(path, &message, message.count)
        guard failed == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .unavailable(reason: "could not load '\(path)': \(text)")
        }
        guard let v = ember_dnnl_version()?.pointee else { return .available(version: "unknown") }
        return .available(version: "\(v.major).\(v.minor).\(v.patch)")
    }

    /// Calls `body` once for every index in `0..<count`, on up to `count` of the OpenMP threads
    /// that oneDNN's kernels run on, each index on whichever thread takes it first. False, calling
    /// nothing, before oneDNN is loaded or where it was not built on OpenMP.
    static func onOpenMPThreads(_ count: Int, _ body: (Int) -> Void) -> Bool {
        withoutActuallyEscaping(body) { body in
            withUnsafePointer(to: body) { body in
                ember_dnnl_parallel(Int32(count), { body, index in
                    body!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
                }, UnsafeMutableRawPointer(mutating: body)) == 0
            }
        }
    }

    /// The channel block that oneDNN's fastest convolutions use on this CPU: 16 with AVX-512,
    /// 8 otherwise; nil when oneDNN is unavailable.
    public static let channelBlock: Int? = {
        guard status.isAvailable else { return nil }
        // The ISA values are bit sets: AVX-512 (core) machines have all of avx512_core's bits.
        let isa = ember_dnnl_get_effective_cpu_isa().rawValue, avx512 = dnnl_cpu_isa_avx512_core.rawValue
        return isa & avx512 == avx512 ? 16 : 8
    }()

    /// The CPU engine, made once; every primitive and memory object belongs to it.
    static let engine: Engine? = status.isAvailable ? try? Engine() : nil

    /// The engine, or an error saying why there is none.
    static func requireEngine() throws -> Engine {
        if let engine { return engine }
        throw EmberError(.unsupported, "[onednn] \(status)")
    }

    /// Throws unless `status` is `dnnl_success`, naming the call that failed.
    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
        guard status != dnnl_success else { return }
        let reason: String
        switch status {
        case dnnl_unimplemented: reason = "no implementation for these shapes and formats"
        case dnnl_invalid_arguments: reason = "invalid arguments"
        case dnnl_out_of_memory: reason = "out of memory"
        default: reason = "status \(status.rawValue)"
        }
        throw EmberError(.unsupported, "[onednn] \(what()) failed: \(reason)")
    }
}

/// oneDNN's CPU engine.
final class Engine: @unchecked Sendable {
    let handle: dnnl_engine_t

    init() throws {
        var engine: dnnl_engine_t?
        try OneDNN.check(ember_dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        guard let engine else { throw EmberError(.internalError, "[onednn] engine creation returned no engine") }
        handle = engine
    }

    deinit { _ = ember_dnnl_engine_destroy(handle) }
}

/// A stream on the CPU engine; one per execution context, since a stream is not shared between
/// threads.
final class Stream {
    let handle: dnnl_stream_t

    init(_ engine: Engine) throws {
        var stream: dnnl_stream_t?
        try OneDNN.check(ember_dnnl_stream_create(&stream, engine.handle, UInt32(dnnl_stream_default_flags.rawValue)), "creating a stream")
        guard let stream else { throw EmberError(.internalError, "[onednn] stream creation returned no stream") }
        handle = stream
    }

    deinit { _ = ember_dnnl_stream_destroy(handle) }
}
