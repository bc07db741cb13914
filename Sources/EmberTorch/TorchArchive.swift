import EmberIR
import Foundation
import ZIPFoundation

/// The files of a `torch.export.save` archive: a zip whose entries all sit under one folder,
/// `<name>/archive_format` (`pt2`), `<name>/models/<model>.json`, `<name>/data/weights/...` and
/// `<name>/data/constants/...`.
///
/// Every entry is checked before it is read: its path may not leave the archive (no `..`, no
/// absolute path), and its declared size must fit in the bytes the file holds, so a damaged
/// archive is refused before anything is allocated for it.
struct TorchArchive {
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
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        guard let size = (attributes?[.size] as? NSNumber)?.uint64Value else {
            throw EmberError(.io, "cannot read model file '\(url.path)'")
        }
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw EmberError(.invalidModel, "'\(url.lastPathComponent)' is not a readable zip archive (\(error))")
        }
        try self.init(archive, byteCount: size, origin: url.lastPathComponent)
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
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' is not a readable zip archive (\(error))")
        }
        try self.init(archive, byteCount: UInt64(bytes.count), origin: origin)
    }

    private init(_ archive: Archive, byteCount: UInt64, origin: String) throws {
        self.archive = archive
        self.origin = origin
        self.byteCount = byteCount
        var paths: [(String, Entry)] = []
        for entry in archive where entry.type == .file {
            let path = entry.path
            try Self.checkPath(path, origin: origin)
            paths.append((path, entry))
        }
        guard let first = paths.first?.0 else {
            throw EmberError(.invalidModel, "'\(origin)' is an empty zip archive, not a torch.export archive")
        }
        // torch.export.save puts everything under one folder named after the file; find it from
        // the archive_format record, else from the models folder.
        let marker = paths.map(\.0).first { $0 == "archive_format" || $0.hasSuffix("/archive_format") }
            ?? paths.map(\.0).first { $0.contains("models/") && $0.hasSuffix(".json") }
            ?? first
        let root: String
        if let range = marker.range(of: "archive_format", options: .backwards), marker.hasSuffix("archive_format") {
            root = String(marker[..<range.lowerBound])
        } else if let range = marker.range(of: "models/") {
            root = String(marker[..<range.lowerBound])
        } else {
            root = ""
        }
        self.root = root
        for (path, entry) in paths where path.hasPrefix(root) {
            entries[String(path.dropFirst(root.count))] = entry
        }
    }

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

    /// The bytes of an entry, checked against its declared size.
    func read(_ path: String) throws -> Data {
        guard let entry = entries[path] else {
            throw EmberError(.invalidModel, "'\(origin)' has no entry '\(root)\(path)'")
        }
        let size = try checkedSize(entry, path)
        var data = Data()
        data.reserveCapacity(size)
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                guard data.count + chunk.count <= size else {
                    throw EmberError(.invalidModel, "entry holds more than its declared \(size) bytes")
                }
                data.append(chunk)
            }
        } catch let error as EmberError {
            throw EmberError(.invalidModel, "'\(origin)' entry '\(root)\(path)' is damaged: \(error.message)")
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' entry '\(root)\(path)' is damaged (\(error))")
        }
        guard data.count == size else {
            throw EmberError(
                .invalidModel, "'\(origin)' entry '\(root)\(path)' holds \(data.count) bytes, declared \(size)")
        }
        return data
    }

    /// An entry decoded as JSON.
    func json<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        let data = try read(path)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as EmberError {
            throw error
        } catch {
            throw EmberError(.invalidModel, "'\(origin)' entry '\(root)\(path)' is not the JSON Ember expects: \(Self.describe(error))")
        }
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
