import EmberIR
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `SafeFile`: files a model names are opened beneath its folder, never through a symbolic link,
/// never blocking, regular files only; sizes and bytes come from the one open descriptor.
@Suite struct SafeFileTests {
    /// A fresh folder holding `model/` (with `weights.bin` and `sub/inner.bin`) and `secret.txt`
    /// beside it; removed by the caller.
    static func folder() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ember-safefile-\(UUID().uuidString)")
        let model = root.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data([1, 2, 3, 4, 5, 6, 7, 8]).write(to: model.appendingPathComponent("weights.bin"))
        try Data([9, 9]).write(to: model.appendingPathComponent("sub/inner.bin"))
        try Data("top secret".utf8).write(to: root.appendingPathComponent("secret.txt"))
        return root
    }

    static func error(_ body: () throws -> Void) -> EmberError? {
        do { try body() } catch let e as EmberError { return e } catch { return EmberError(.internalError, "\(error)") }
        return nil
    }

    @Test func readsPlainFilesInsideTheFolder() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("model").path
        let file = try SafeFile.open("weights.bin", beneath: dir)
        #expect(file.size == 8)
        #expect(try file.read(at: 2, count: 3) == Data([3, 4, 5]))
        #expect(try SafeFile.open("./sub/inner.bin", beneath: dir).read(at: 0, count: 2) == Data([9, 9]))
        // Reads past the end are errors, not short reads.
        #expect(Self.error { _ = try file.read(at: 6, count: 3) }?.code == .io)
    }

    @Test func refusesPathsThatLeaveTheFolder() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model")
        for bad in ["../secret.txt", "sub/../../secret.txt", root.appendingPathComponent("secret.txt").path, "", "a\0b"] {
            let e = Self.error { _ = try SafeFile.open(bad, beneath: model.path) }
            #expect(e?.code == .invalidModel, "\(bad): \(e?.message ?? "opened")")
        }
    }

    @Test func refusesSymbolicLinksAnywhereInThePath() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model")
        let fm = FileManager.default
        // A link straight out, a link to a folder outside, a link that stays inside, and a chain of
        // 40 links (more than realpath-style resolution follows) ending at the secret.
        try fm.createSymbolicLink(atPath: model.appendingPathComponent("out.bin").path, withDestinationPath: "../secret.txt")
        try fm.createSymbolicLink(atPath: model.appendingPathComponent("up").path, withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: model.appendingPathComponent("same.bin").path, withDestinationPath: "weights.bin")
        var previous = root.appendingPathComponent("secret.txt").path
        for i in 0..<40 {
            let link = model.appendingPathComponent("chain\(i)").path
            try fm.createSymbolicLink(atPath: link, withDestinationPath: previous)
            previous = link
        }
        try fm.createSymbolicLink(atPath: model.appendingPathComponent("loop").path, withDestinationPath: "loop")
        for name in ["out.bin", "up/secret.txt", "same.bin", "chain39", "loop", "loop/x"] {
            let e = Self.error { _ = try SafeFile.open(name, beneath: model.path) }
            #expect(e?.code == .invalidModel, "\(name): \(e?.message ?? "opened")")
            #expect(e?.message.contains("symbolic link") == true, "\(name): \(e?.message ?? "opened")")
        }
    }

    @Test func refusesFIFOsAndDevicesWithoutBlocking() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = root.appendingPathComponent("model")
        let fifo = model.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // A FIFO with no writer would block open(2) forever; here it is refused at once.
        let e = Self.error { _ = try SafeFile.open("pipe", beneath: model.path) }
        #expect(e?.message.contains("FIFO") == true, "\(e?.message ?? "opened")")
        #expect(Self.error { _ = try SafeFile.open(fifo) }?.message.contains("FIFO") == true)
        #expect(Self.error { _ = try SafeFile.open("/dev/null") }?.message.contains("character device") == true)
        #expect(Self.error { _ = try SafeFile.open(model.path) }?.message.contains("directory") == true)
        #expect(Self.error { _ = try SafeFile.open("sub", beneath: model.path) }?.message.contains("directory") == true)
    }

    @Test func theSizeIsTheOpenFilesNotTheLinks() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        // A user-named path may be a link: it is followed, and the size is the target's.
        let link = root.appendingPathComponent("link.bin").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: root.appendingPathComponent("model/weights.bin").path)
        let file = try SafeFile.open(link)
        #expect(file.size == 8)
        #expect(try file.mapped() == Data([1, 2, 3, 4, 5, 6, 7, 8]))
        #expect(try file.prefix(100).count == 8)
    }
}
