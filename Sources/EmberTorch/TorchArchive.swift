import EmberIR
import Foundation
import ZIPFoundation

/// The files of a `torch.export.save` archive: a zip whose entries all sit under one folder,
/// `<name>/archive_format` (`pt2`), `<name>/models/<model>.json`, `<name>/data/weights/...` and
/// `<name>/data/constants/...`; or the older layout of torch 2.6 and 2.7, whose weights are
/// `torch.save` archives (`archive/data.pkl`, `archive/data/0`, ...) stored inside it.
///
/// Every entry is checked before it is read: its path may not leave the archive (no `..`, no
/// absolute path), and its declared size must fit in the bytes the file holds, so a damaged
/// archive is refused before anything is allocated for it.
struct TorchArchive {
    /// The largest JSON document read: programs of the largest models are tens of megabytes.
    static let maximumDocumentBytes = 256 << 20
    /// The most a deflated entry can grow: deflate never compresses better than about 1032 to 1.
    static let maximumDeflateRatio: UInt64 = 1032

    private let archive: Archive
    private let origin: String
    private let byteCount: UInt64
    /// Entries by their path below the archive's root folder (`models/model.json`).
    private var entries: [String: Entry] = [:]
    /// The root folder every entry sits in (`r18/`), empty when entries sit at the top.
    let root: String

    init(contentsOf url: URL) throws {
        try self.init(file: try SafeFile.open(url.path), url: url, origin: url.lastPathComponent)
    }

    /// An archive from its bytes. They are read through a temporary file: ZIPFoundation's
    /// in-memory backing does not bounds-check reads of a damaged archive.
    init(bytes: Data, origin: String = "archive") throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-\(UUID().uuidString).pt2")
        do {
            try bytes.write(to: url)
        } catch {
            throw EmberError(.io, "cannot write a temporary copy of '\(origin)' (\(error))")
        }
        defer { try? FileManager.default.removeItem(at: url) }
        try self.init(file: try SafeFile.open(url.path), url: url, origin: origin)
    }

    /// The archive in `file`, a regular file opened at `url`; its directory is checked against the
    /// file's size before ZIPFoundation reads it.
    private init(file: SafeFile, url: URL, origin: String) throws {
        do {
            try ZipDirectoryCheck.check(file)
        } catch let error as EmberError {
            if file.size == Self.emptyZipSize, (try? file.prefix(4)) == Data([0x50, 0x4B, 0x05, 0x06]) {
                throw EmberError(.invalidModel, "'\(origin)' is an empty zip archive, not a torch.export archive")
            }
            throw error.located("'\(origin)'")
        }
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' is not a readable zip archive (\(error))")
        }
        try self.init(archive, byteCount: UInt64(file.size), origin: origin)
    }

    /// The size of a zip with no entries: its end-of-central-directory record alone.
    static let emptyZipSize = 22

    private init(_ archive: Archive, byteCount: UInt64, origin: String) throws {
        self.archive = archive
        self.origin = origin
        self.byteCount = byteCount
        var paths: [(String, Entry)] = []
        var seen: Set<String> = []
        for entry in archive {
            let path = entry.path
            try Self.checkPath(path, origin: origin)
            // Zip tools disagree on which of two same-named entries is the file (unzip takes the
            // first, others the last), so an archive holding two is refused.
            guard seen.insert(path).inserted else {
                throw EmberError(.invalidModel, "'\(origin)' has two entries named '\(path)'; refusing an ambiguous archive")
            }
            if entry.type == .file { paths.append((path, entry)) }
        }
        guard !paths.isEmpty else {
            throw EmberError(.invalidModel, "'\(origin)' is an empty zip archive, not a torch.export archive")
        }
        // torch.export.save puts everything under one folder named after the file, torch.save under
        // `archive/`; find it from a file only the root folder has.
        let names = paths.map(\.0)
        var root = ""
        for marker in Self.rootMarkers {
            if let path = names.first(where: { $0 == marker || $0.hasSuffix("/" + marker) }) {
                root = String(path.dropLast(marker.count))
                break
            }
        }
        if root.isEmpty, let model = names.first(where: { $0.contains("models/") && $0.hasSuffix(".json") }),
            let range = model.range(of: "models/")
        {
            root = String(model[..<range.lowerBound])
        }
        self.root = root
        for (path, entry) in paths where path.hasPrefix(root) {
            entries[String(path.dropFirst(root.count))] = entry
        }
    }

    /// Files that sit in an archive's root folder: torch.export.save's (pt2 layout, then the older
    /// one) and torch.save's.
    static let rootMarkers = ["archive_format", "serialized_exported_program.json", "data.pkl"]

    /// Refuses entry paths that could name a file outside the archive when unpacked.
    static func checkPath(_ path: String, origin: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if path.hasPrefix("/") || path.hasPrefix("\\") || path.contains("\\") || path.contains("\0")
            || parts.contains("..") || (path.count > 1 && path.dropFirst().first == ":")
        {
            throw EmberError(
                .invalidModel, "'\(origin)' has an entry '\(path)' that points outside the archive; refusing to read it")
        }
    }

    /// Whether the archive has an entry at `path` (below the root folder).
    func contains(_ path: String) -> Bool { entries[path] != nil }

    /// The paths below the root folder, sorted.
    var paths: [String] { entries.keys.sorted() }

    /// The declared size of an entry, after the checks `read` makes.
    func size(of path: String) throws -> Int {
        guard let entry = entries[path] else {
            throw EmberError(.invalidModel, "'\(origin)' has no entry '\(root)\(path)'")
        }
        return try checkedSize(entry, path)
    }

    private func checkedSize(_ entry: Entry, _ path: String) throws -> Int {
        let declared = entry.uncompressedSize
        let stored = entry.compressedSize
        let limit = entry.isCompressed ? stored.multipliedReportingOverflow(by: Self.maximumDeflateRatio) : (partialValue: stored, overflow: false)
        guard stored <= byteCount, !limit.overflow, declared <= limit.partialValue, declared <= UInt64(Int.max / 2) else {
            throw EmberError(
                .invalidModel,
                "'\(origin)' entry '\(root)\(path)' declares \(declared) bytes (\(stored) stored) but the archive holds \(byteCount) bytes: the archive is damaged")
        }
        return Int(declared)
    }

    /// The bytes of an entry, checked against its declared size and its CRC-32.
    ///
    /// With `limit`, at most that many bytes are inflated: an entry declaring more stops there (its
    /// CRC-32 then cannot be checked, the rest being unread), so a tensor never costs more than
    /// it needs however large its entry claims to be.
    func read(_ path: String, limit: Int? = nil) throws -> Data {
        guard let entry = entries[path] else {
            throw EmberError(.invalidModel, "'\(origin)' has no entry '\(root)\(path)'")
        }
        let size = try checkedSize(entry, path)
        let wanted = min(size, limit ?? size)
        var data = Data()
        data.reserveCapacity(wanted)
        /// Thrown by the consumer once `wanted` bytes are in: the rest is not inflated.
        struct Enough: Error {}
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, skipCRC32: wanted < size) { chunk in
                guard data.count + chunk.count <= size else {
                    throw EmberError(.invalidModel, "entry holds more than its declared \(size) bytes")
                }
                if wanted < size {
                    data.append(chunk.prefix(wanted - data.count))
                    if data.count == wanted { throw Enough() }
                } else {
                    data.append(chunk)
                }
            }
        } catch is Enough {
            return data
        } catch let error as EmberError {
            throw EmberError(.invalidModel, "'\(origin)' entry '\(root)\(path)' is damaged: \(error.message)")
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' entry '\(root)\(path)' is damaged (\(error))")
        }
        guard data.count == size else {
            throw EmberError(
                .invalidModel, "'\(origin)' entry '\(root)\(path)' holds \(data.count) bytes, declared \(size)")
        }
        guard wanted < size || checksum == entry.checksum else {
            throw EmberError(
                .invalidModel,
                "'\(origin)' entry '\(root)\(path)' is damaged: its CRC-32 is \(Self.hex(checksum)), the archive records \(Self.hex(entry.checksum))")
        }
        return data
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// An entry decoded as JSON.
    func json<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        guard try size(of: path) <= Self.maximumDocumentBytes else {
            throw EmberError(
                .invalidModel,
                "'\(origin)' entry '\(root)\(path)' declares \(try size(of: path)) bytes, more than the \(Self.maximumDocumentBytes >> 20) MiB Ember reads of a JSON document")
        }
        let data = try read(path)
        do {
            do {
                return try JSONDecoder().decode(T.self, from: data)
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                // Python's json module writes infinities and NaN as bare `Infinity` and `NaN`
                // (torch 2.7 and older do, for `-inf` masks), which is not JSON.
                return try JSONDecoder().decode(T.self, from: Self.quotingNonFiniteNumbers(data))
            }
        } catch let error as EmberError {
            throw error
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' entry '\(root)\(path)' is not the JSON Ember expects: \(Self.describe(error))")
        }
    }

    /// The document with the bare `NaN`, `Infinity` and `-Infinity` that Python writes outside
    /// strings replaced by the strings `"nan"`, `"inf"` and `"-inf"`, which the schema's floats
    /// accept. Everything else, strings included, is copied as it is.
    static func quotingNonFiniteNumbers(_ data: Data) -> Data {
        let replacements: [(token: [UInt8], text: [UInt8])] = [
            (Array("-Infinity".utf8), Array("\"-inf\"".utf8)), (Array("Infinity".utf8), Array("\"inf\"".utf8)),
            (Array("NaN".utf8), Array("\"nan\"".utf8)),
        ]
        let bytes = [UInt8](data)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        var inString = false
        outer: while i < bytes.count {
            let byte = bytes[i]
            if inString {
                out.append(byte)
                if byte == UInt8(ascii: "\\"), i + 1 < bytes.count {
                    out.append(bytes[i + 1])
                    i += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            if byte == UInt8(ascii: "\"") { inString = true }
            for (token, text) in replacements where bytes[i...].starts(with: token) {
                out += text
                i += token.count
                continue outer
            }
            out.append(byte)
            i += 1
        }
        return Data(out)
    }

    /// A short reading of a decoding error: what was wrong, and where in the document.
    static func describe(_ error: Error) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let c)?: return "missing '\(key.stringValue)' at \(at(c.codingPath))"
        case .typeMismatch(_, let c)?: return "\(c.debugDescription) at \(at(c.codingPath))"
        case .valueNotFound(_, let c)?: return "\(c.debugDescription) at \(at(c.codingPath))"
        case .dataCorrupted(let c)?: return "\(c.debugDescription) at \(at(c.codingPath))"
        default: return "\(error)"
        }
    }
}
