import EmberCPU
import EmberIR
import EmberOps
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The engine file: one file holding everything needed to run a compiled model.
///
/// Layout (all integers little-endian):
///
///     0        "EMBERENG"                       magic
///     8        u32 format version
///     12       u32 header length H
///     16       header, JSON (H bytes)            versions, backend, CPU features, shape profiles, section offsets
///     G        graph, Ember text IR              constants point into the weights (`@blob(offset)`)
///     W        weights, 64-byte aligned          raw little-endian tensor bytes
///     end - 12 u64 XXH3-64 checksum of every byte before it, then "EEND"
///
/// A CPU engine stores each weight its oneDNN kernels pack as the packed bytes (`packed` in the
/// header says which, with the layout they are in), so loading neither copies nor reorders them:
/// the kernels read them from the mapped file. Loading checks every part and names what does
/// not match.
public enum EngineFile {
    static let magic = Array("EMBERENG".utf8)
    static let trailerMark = Array("EEND".utf8)
    /// The layout version this build writes.
    public static let formatVersion: UInt32 = 3
    /// The layout versions this build reads: version 2 had no packed weights.
    static let readableVersions: ClosedRange<UInt32> = 2...3
    static let alignment = 64

    /// What the header records.
    struct Header: Codable, Equatable {
        var emberVersion: String
        var backend: String
        /// CPU features the engine's kernels need on the machine that runs it.
        var cpuFeatures: [String]
        /// Ops forced onto the reference kernels when the engine was compiled.
        var fallbackOps: [String]?
        /// The versions of the libraries the engine was built with, by library.
        var libraries: [String: String]?
        /// How floats are stored and computed (CUDA engines); fp32 when absent.
        var precision: String?
        /// The GPU architecture the stored kernels were compiled for (CUDA engines).
        var cudaArchitecture: String?
        /// Machine code of the generated kernels (CUDA engines), stored in the weights section.
        var kernels: [KernelImage]?
        /// Weights stored packed for the CPU backend's oneDNN kernels.
        var packed: [PackedWeight]?
        /// The shape profiles the engine serves; absent (engines before profiles, and engines
        /// without any) means any shape. Optional, so engines written before it still load.
        var profiles: [ShapeProfile]?
        var graphOffset: Int
        var graphLength: Int
        var weightsOffset: Int
        var weightsLength: Int
    }

    /// One compiled kernel: its key (`CUDAKernelCompiler.imageKey`) and where its bytes lie in
    /// the weights section.
    struct KernelImage: Codable, Equatable {
        var key: String
        var offset: Int
        var length: Int
    }

    /// A weight stored as its kernel packed it: the constant's name in the graph, where its
    /// bytes lie in the weights section, and the oneDNN memory descriptors of the packed format
    /// and of the plain weight (base64).
    struct PackedWeight: Codable, Equatable {
        var value: String
        var offset: Int
        var length: Int
        var format: String
        var plain: String
    }

    // MARK: Writing

    /// Writes `engine` to `url` through a temporary file renamed into place, so a failure never
    /// leaves a half-written engine or clobbers the file that was there. `url` may name a new file
    /// or a regular file, never the model being compiled (`sparing`), a directory, a device or a
    /// FIFO; a file replaced keeps its permission bits. The temporary file is removed on every
    /// failure and when SIGINT, SIGTERM or SIGHUP arrive while it is written.
    ///
    /// Returns notes for the user: stale temporary files of interrupted writes found beside `url`.
    @discardableResult
    public static func write(_ engine: Engine, to url: URL, sparing input: String? = nil) throws -> [String] {
        let existingMode = try checkTarget(url, sparing: input)
        let data = try serialize(engine)
        return try EngineFileWriter.replace(url, with: data, mode: existingMode)
    }

    /// Checks that an engine may be written to `url` (see `write`) before any work is done for it;
    /// returns the permission bits of the file there, nil when there is none.
    public static func checkTarget(_ url: URL, sparing input: String? = nil) throws -> mode_t? {
        try EngineFileWriter.checkTarget(url.path, sparing: input)
    }

    /// The engine's bytes.
    public static func serialize(_ engine: Engine) throws -> Data {
        var weights: [UInt8] = []
        let packedCopies = engine.program?.packedConstants ?? [:]
        let graph = try engine.program?.completeGraph(holding: Set(packedCopies.keys)) ?? engine.completeGraph()
        var packed: [PackedWeight] = []
        let graphText = graph.text(
            storingConstant: { tensor in
                weights.append(contentsOf: [UInt8](repeating: 0, count: padding(weights.count)))
                let offset = weights.count
                weights.append(contentsOf: tensor.bytes())
                return offset
            },
            storingHeld: { id in
                let copy = packedCopies[id]!
                weights.append(contentsOf: [UInt8](repeating: 0, count: padding(weights.count)))
                let offset = weights.count
                weights.append(contentsOf: copy.bytes)
                packed.append(PackedWeight(
                    value: graph.name(of: id), offset: offset, length: copy.bytes.count,
                    format: Data(copy.format).base64EncodedString(), plain: Data(copy.plain).base64EncodedString()))
                return offset
            })
        let graphBytes = Array(graphText.utf8)
        var kernels: [KernelImage] = []
        for (key, image) in (engine.cudaProgram?.compiledImages ?? [:]).sorted(by: { $0.key < $1.key }) {
            weights.append(contentsOf: [UInt8](repeating: 0, count: padding(weights.count)))
            kernels.append(KernelImage(key: key, offset: weights.count, length: image.count))
            weights.append(contentsOf: image)
        }
        // The header holds offsets that depend on its own length: lay it out until it settles.
        var header = Header(
            emberVersion: EmberVersion.string, backend: engine.backend.rawValue, cpuFeatures: CPUFeatures.required,
            fallbackOps: engine.fallbackOps.isEmpty ? nil : engine.fallbackOps.sorted(),
            libraries: engine.backend == .cpu ? CPUBackend.libraryVersions : nil,
            precision: engine.precision == .fp32 ? nil : engine.precision.rawValue,
            cudaArchitecture: engine.cudaProgram?.kernels.context.device.architecture,
            kernels: engine.backend == .cuda ? kernels : nil, packed: packed.isEmpty ? nil : packed,
            profiles: engine.profiles.isEmpty ? nil : engine.profiles,
            graphOffset: 0, graphLength: graphBytes.count, weightsOffset: 0, weightsLength: weights.count)
        var headerBytes: [UInt8] = []
        for _ in 0..<4 {
            headerBytes = try encode(header)
            let graphOffset = align(16 + headerBytes.count)
            let weightsOffset = align(graphOffset + graphBytes.count)
            if header.graphOffset == graphOffset && header.weightsOffset == weightsOffset { break }
            header.graphOffset = graphOffset
            header.weightsOffset = weightsOffset
        }
        var out: [UInt8] = magic
        out += littleEndian(formatVersion)
        out += littleEndian(UInt32(headerBytes.count))
        out += headerBytes
        out += [UInt8](repeating: 0, count: header.graphOffset - out.count)
        out += graphBytes
        out += [UInt8](repeating: 0, count: header.weightsOffset - out.count)
        out += weights
        let checksum = out.withUnsafeBytes(Checksum.xxh3)
        out += littleEndian(UInt32(truncatingIfNeeded: checksum)) + littleEndian(UInt32(truncatingIfNeeded: checksum >> 32))
        out += trailerMark
        return Data(out)
    }

    // MARK: Reading

    /// Whether `prefix` (the first bytes of a file) starts like an engine.
    public static func looksLikeEngine(_ prefix: Data) -> Bool { prefix.starts(with: magic) }

    /// Loads and checks an engine file. The file is mapped, and each part's pages are let go once
    /// read, so loading holds the weights once, not twice.
    public static func read(from url: URL) throws -> Engine {
        let file: SafeFile
        do {
            file = try SafeFile.open(url.path)
        } catch let error as EmberError {
            throw EmberError(.io, "cannot read engine: \(error.message)")
        }
        return try read(file, path: url.path)
    }

    /// Loads and checks the engine in `file`, opened at `path`.
    public static func read(_ file: SafeFile, path: String) throws -> Engine {
        let mapped: MappedFile
        do {
            mapped = try MappedFile(file)
        } catch let error as EmberError {
            throw EmberError(.io, "cannot read engine: \(error.message)")
        }
        do {
            return try load(mapped.bytes, owner: mapped, release: mapped.release)
        } catch let error as EmberError {
            throw error.located("engine '\(path)'")
        }
    }

    public static func deserialize(_ data: Data) throws -> Engine {
        try data.withUnsafeBytes { try load($0, owner: nil, release: { _ in }) }
    }

    /// Checks and loads the engine in `bytes`; `release` is told of each range of them read for the
    /// last time. Packed weights are read where they are while `owner` keeps `bytes` valid, and
    /// copied without one.
    private static func load(_ bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: @escaping (Range<Int>) -> Void) throws -> Engine {
        let end = bytes.count
        guard end >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw EmberError(.invalidModel, "not an Ember engine (no EMBERENG magic at the start)")
        }
        guard end >= 16 + 12 else {
            throw EmberError(.invalidModel, "the engine is truncated: \(end) bytes, shorter than an empty engine's \(16 + 12)")
        }
        let version = readUInt32(bytes, at: 8)
        guard readableVersions.contains(version) else {
            throw EmberError(
                .invalidModel,
                "engine format version \(version) is not the version this Ember reads (\(formatVersion)); compile the model again with this Ember")
        }
        guard Array(bytes[(end - 4)..<end]) == trailerMark else {
            throw EmberError(.invalidModel, "the engine is truncated (no end marker)")
        }
        // The checksum is computed on another thread while the graph is read; nothing read is
        // used before it matches, and a mismatch is reported before any other fault.
        let stored = UInt64(readUInt32(bytes, at: end - 12)) | UInt64(readUInt32(bytes, at: end - 8)) << 32
        let checksum = BackgroundChecksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(end - 12)]))
        func checkIntegrity() throws {
            let actual = checksum.value
            guard stored == actual else {
                throw EmberError(.invalidModel, "the engine is damaged: checksum \(hex(actual)) does not match the stored \(hex(stored))")
            }
        }
        var parsed: Parsed
        do {
            parsed = try parse(bytes, owner: owner, release: release)
        } catch {
            try checkIntegrity()
            throw error
        }
        try checkIntegrity()
        let graph = parsed.graph
        parsed.graph = Graph()  // the engine holds the only copy, so packed weights can be let go
        return try Engine(
            graph: consume graph, backend: parsed.backend, fallbackOps: parsed.fallbackOps,
            precision: parsed.precision, images: parsed.images, packed: parsed.packed, profiles: parsed.profiles)
    }

    /// What an engine file holds, read.
    private struct Parsed {
        var backend: Engine.Backend
        var fallbackOps: Set<String>
        var precision: Precision
        var graph: Graph
        var images: [String: [UInt8]]
        var packed: [ValueID: PackedConstant]
        var profiles: [ShapeProfile]
    }

    /// The backend, forced fallback ops, graph and kernels of the engine in `bytes`, whose checksum
    /// is being checked meanwhile.
    private static func parse(_ bytes: UnsafeRawBufferPointer, owner: AnyObject?, release: @escaping (Range<Int>) -> Void) throws -> Parsed {
        let end = bytes.count
        let headerLength = Int(readUInt32(bytes, at: 12))
        guard headerLength <= end - 28 else { throw EmberError(.invalidModel, "the engine header is truncated") }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[16..<(16 + headerLength)]))
        } catch {
            throw EmberError(.invalidModel, "the engine header is not valid")
        }
        let body = end - 12
        guard header.graphOffset >= 16 + headerLength, header.graphLength >= 0,
            header.graphOffset <= body, header.graphLength <= body - header.graphOffset,
            header.weightsOffset >= 0, header.weightsLength >= 0,
            header.weightsOffset <= body, header.weightsLength <= body - header.weightsOffset
        else {
            throw EmberError(.invalidModel, "the engine's sections lie outside the file")
        }
        guard let backend = Engine.Backend(rawValue: header.backend) else {
            throw EmberError(.unsupported, "the engine is for backend '\(header.backend)', which this Ember does not have")
        }
        let missing = header.cpuFeatures.filter { !CPUFeatures.available.contains($0) }
        guard missing.isEmpty else {
            throw EmberError(
                .unsupported, "the engine needs CPU features this machine lacks: \(missing.joined(separator: ", "))")
        }
        let text = String(decoding: bytes[header.graphOffset..<(header.graphOffset + header.graphLength)], as: UTF8.self)
        let weights = UnsafeRawBufferPointer(
            rebasing: bytes[header.weightsOffset..<(header.weightsOffset + header.weightsLength)])
        var packedAt: [Int: PackedWeight] = [:]
        for entry in header.packed ?? [] {
            guard entry.offset >= 0, entry.length >= 0, entry.offset <= weights.count, entry.length <= weights.count - entry.offset,
                packedAt.updateValue(entry, forKey: entry.offset) == nil
            else {
                throw EmberError(.invalidModel, "packed weight '\(entry.value)' lies outside the weights")
            }
        }
        let graph = try Graph(parsing: text, registry: .standard) { dtype, shape, offset in
            if packedAt[offset] != nil {
                guard dtype == .f32 else { throw EmberError(.invalidModel, "a packed weight of \(dtype)\(shape); packed weights are f32") }
                return nil
            }
            guard let count = Tensor.elementCount(shape),
                case (let length, false) = count.multipliedReportingOverflow(by: dtype.byteSize),
                offset >= 0, offset <= weights.count, length <= weights.count - offset
            else {
                throw EmberError(.invalidModel, "constant of \(dtype)\(shape) at offset \(offset) lies outside the weights")
            }
            let tensor = try Tensor(dtype, shape: shape, bytes: UnsafeRawBufferPointer(rebasing: weights[offset..<(offset + length)]))
            release((header.weightsOffset + offset)..<(header.weightsOffset + offset + length))
            return tensor
        }
        guard let precision = Precision(rawValue: header.precision ?? "fp32") else {
            throw EmberError(.unsupported, "the engine's precision '\(header.precision ?? "")' is not one this Ember has")
        }
        var images: [String: [UInt8]] = [:]
        for kernel in header.kernels ?? [] {
            guard kernel.offset >= 0, kernel.length >= 0, kernel.offset <= weights.count, kernel.length <= weights.count - kernel.offset
            else {
                throw EmberError(.invalidModel, "kernel \(kernel.key) lies outside the weights")
            }
            images[kernel.key] = Array(weights[kernel.offset..<(kernel.offset + kernel.length)])
        }
        var packed: [ValueID: PackedConstant] = [:]
        for entry in packedAt.values {
            guard let id = graph.value(named: entry.value), graph.heldConstants.contains(id),
                let format = Data(base64Encoded: entry.format), let plain = Data(base64Encoded: entry.plain)
            else {
                throw EmberError(.invalidModel, "packed weight '\(entry.value)' is not a held constant of the engine's graph")
            }
            packed[id] = PackedConstant(
                format: Array(format), plain: Array(plain),
                bytes: UnsafeRawBufferPointer(rebasing: weights[entry.offset..<(entry.offset + entry.length)]), owner: owner)
        }
        // Decoding skips the profiles' own checks: make each again, so a damaged one is refused.
        let profiles: [ShapeProfile]
        do {
            profiles = try (header.profiles ?? []).map { try ShapeProfile($0.ranges) }
            try ShapeProfile.validate(profiles, for: graph)
        } catch let error as EmberError {
            throw EmberError(.invalidModel, "the engine's shape profiles are not valid: \(error.message)")
        }
        return Parsed(
            backend: backend, fallbackOps: Set(header.fallbackOps ?? []), precision: precision, graph: graph, images: images,
            packed: packed, profiles: profiles)
    }

    /// XXH3-64 of a buffer, computed on another thread; `value` waits for it. The buffer must stay
    /// valid until then.
    private final class BackgroundChecksum: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: UInt64 = 0

        init(_ bytes: UnsafeRawBufferPointer) {
            nonisolated(unsafe) let bytes = bytes
            DispatchQueue.global().async { [self] in
                result = Checksum.xxh3(bytes)
                done.signal()
            }
        }

        var value: UInt64 {
            done.wait()
            done.signal()
            return result
        }
    }

    // MARK: Bytes

    static func align(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
    static func padding(_ n: Int) -> Int { align(n) - n }

    static func littleEndian(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    static func readUInt32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    static func encode(_ header: Header) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(header))
    }
}
