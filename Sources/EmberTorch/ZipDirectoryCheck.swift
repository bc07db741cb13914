import EmberIR
import Foundation

/// Checks a zip's directory records against the file's size before ZIPFoundation reads them.
/// ZIPFoundation trusts the offsets and sizes a zip declares, and traps on one past `Int64.max`,
/// which a damaged archive can hold; these checks turn that into an error.
enum ZipDirectoryCheck {
    /// The largest central directory read: far above any real model's.
    static let maximumDirectoryBytes: UInt64 = 256 << 20

    static func check(_ file: SafeFile) throws {
        let size = UInt64(file.size)
        func read(_ offset: UInt64, _ count: UInt64) throws -> [UInt8] {
            guard offset <= size, count <= size - offset else { throw damaged("a record lies past the end of the file") }
            return [UInt8](try file.read(at: Int(offset), count: Int(count)))
        }

        // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
        let tailStart = size - min(size, 65_557)
        let tail = try read(tailStart, size - tailStart)
        guard let end = stride(from: tail.count - 22, through: 0, by: -1).first(where: { tail.le32($0) == 0x0605_4b50 }) else {
            throw damaged("no end-of-central-directory record")
        }
        var directorySize = UInt64(tail.le32(end + 12)), directoryOffset = UInt64(tail.le32(end + 16))
        if end >= 20, tail.le32(end - 20) == 0x0706_4b50 {
            let record = try read(tail.le64(end - 20 + 8), 56)
            guard record.le32(0) == 0x0606_4b50 else { throw damaged("the zip64 end record is missing") }
            directorySize = record.le64(40)
            directoryOffset = record.le64(48)
        }
        guard directorySize <= maximumDirectoryBytes else { throw damaged("a central directory of \(directorySize) bytes") }
        let directory = try read(directoryOffset, directorySize)

        var p = 0
        while p + 46 <= directory.count, directory.le32(p) == 0x0201_4b50 {
            var compressed = UInt64(directory.le32(p + 20)), uncompressed = UInt64(directory.le32(p + 24))
            var local = UInt64(directory.le32(p + 42))
            let nameLength = Int(directory.le16(p + 28)), extraLength = Int(directory.le16(p + 30))
            let commentLength = Int(directory.le16(p + 32))
            let extraStart = p + 46 + nameLength
            guard extraStart + extraLength + commentLength <= directory.count else { throw damaged("an entry runs past the directory") }
            // A zip64 extra field holds, in order, the 64-bit values whose 32-bit fields are all ones.
            var e = extraStart
            while e + 4 <= extraStart + extraLength {
                let id = directory.le16(e), length = Int(directory.le16(e + 2))
                guard e + 4 + length <= extraStart + extraLength else { throw damaged("an extra field runs past its entry") }
                if id == 1 {
                    var v = e + 4
                    func widen(_ value: inout UInt64) throws {
                        guard value == 0xFFFF_FFFF else { return }
                        guard v + 8 <= e + 4 + length else { throw damaged("a zip64 field is cut short") }
                        value = directory.le64(v)
                        v += 8
                    }
                    try widen(&uncompressed)
                    try widen(&compressed)
                    try widen(&local)
                }
                e += 4 + length
            }
            guard local < size, compressed <= size - local, uncompressed <= UInt64(Int64.max) else {
                throw damaged("an entry's offset or size lies outside the file")
            }
            p = extraStart + extraLength + commentLength
        }
    }

    private static func damaged(_ what: String) -> EmberError {
        EmberError(.invalidModel, "the zip archive is damaged: \(what)")
    }
}

extension [UInt8] {
    fileprivate func le16(_ i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    fileprivate func le32(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(self[i + $1]) << (8 * $1) } }
    fileprivate func le64(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(self[i + $1]) << (8 * $1) } }
}
