import EmberIR
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Replacing a file with new bytes without ever destroying what the user had: only regular files
/// are replaced, never the input they were made from; the bytes go to a temporary file beside the
/// target, renamed over it once complete; the temporary file is removed on every failure, and by
/// a signal handler while a write is in progress.
enum EngineFileWriter {
    /// Temporary files older than this beside a target are what an interrupted write left behind.
    static let staleAge: TimeInterval = 3600

    /// The permission bits of the regular file at `path`, nil when there is none; throws when
    /// `path` names a directory, anything but a regular file, or the same file as `input`.
    static func checkTarget(_ path: String, sparing input: String?) throws -> mode_t? {
        var target = stat()
        guard stat(path, &target) == 0 else {
            let error = errno
            if error == ENOENT { return nil }
            throw EmberError(.io, "cannot write '\(path)': \(String(cString: strerror(error)))")
        }
        if (target.st_mode & S_IFMT) == S_IFDIR {
            throw EmberError(.invalidArgument, "'\(path)' is a directory; name the engine file to write inside it")
        }
        guard (target.st_mode & S_IFMT) == S_IFREG else {
            throw EmberError(
                .invalidArgument, "'\(path)' is \(SafeFile.kind(target.st_mode)); Ember writes engines only to new or regular files")
        }
        if let input {
            var source = stat()
            let sameFile = stat(input, &source) == 0 && source.st_dev == target.st_dev && source.st_ino == target.st_ino
            let samePath = URL(fileURLWithPath: input).resolvingSymlinksInPath().path == URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            if sameFile || samePath {
                throw EmberError(.invalidArgument, "'\(path)' is the model being compiled; writing the engine there would destroy it")
            }
        }
        return target.st_mode & 0o7777
    }

    /// Writes `data` to `url` through `.NAME.UUID.tmp` beside it; `mode` (the replaced file's bits)
    /// is given to the new file, which otherwise gets the umask's default. Returns notes about
    /// stale temporary files found beside `url`.
    static func replace(_ url: URL, with data: Data, mode: mode_t?) throws -> [String] {
        let directory = url.deletingLastPathComponent()
        let notes = staleTemporaries(beside: url)
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        func failure(_ what: String, _ code: Int32) -> EmberError {
            EmberError(.io, "cannot write engine '\(url.path)': \(what): \(String(cString: strerror(code)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode ?? 0o666)
        guard fd >= 0 else { throw failure("cannot create a temporary file in '\(directory.path)'", errno) }
        var renamed = false
        PendingTemporary.set(temporary)
        defer {
            if !renamed { unlink(temporary) }
            PendingTemporary.clear()
        }
        do {
            defer { close(fd) }
            // The umask applied at creation; a replaced file's bits are kept exactly.
            if let mode, fchmod(fd, mode) != 0 { throw failure("cannot set the permissions", errno) }
            try data.withUnsafeBytes { buffer in
                var done = 0
                while done < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { throw failure("the write failed", errno) }
                    done += n
                }
            }
            guard fsync(fd) == 0 else { throw failure("the write failed", errno) }
        }
        // rename(2) replaces the destination atomically.
        guard rename(temporary, url.path) == 0 else { throw failure("cannot rename the temporary file into place", errno) }
        renamed = true
        return notes
    }

    /// Temporary files of earlier writes to `url` (`.NAME.UUID.tmp`): those older than `staleAge`
    /// are removed, younger ones (perhaps another write in progress) are left; each is noted.
    static func staleTemporaries(beside url: URL) -> [String] {
        let directory = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent)."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var notes: [String] = []
        for name in names.sorted() where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let middle = name.dropFirst(prefix.count).dropLast(4)
            guard UUID(uuidString: String(middle)) != nil else { continue }
            let path = directory.appendingPathComponent(name).path
            var status = stat()
            guard lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { continue }
            let age = Date().timeIntervalSince1970 - TimeInterval(status.st_mtim.tv_sec)
            if age > staleAge, unlink(path) == 0 {
                notes.append("removed '\(path)', a temporary file an interrupted write left \(Int(age / 3600)) hours ago")
            } else {
                notes.append("'\(path)' is a temporary file of another write, in progress or interrupted; left as it is")
            }
        }
        return notes
    }
}

/// The temporary file being written, removed by a handler of SIGINT, SIGTERM and SIGHUP (which
/// then runs what was there before, or the default action, so the process still stops). The
/// handler reads only raw memory: the path as a C string, the previous handlers as addresses.
enum PendingTemporary {
    nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>?
    /// The handler each signal had before, by signal number, as its address (0 default, 1 ignore).
    nonisolated(unsafe) static let previous = UnsafeMutablePointer<Int>.allocate(capacity: 65)
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    static let lock = NSLock()

    static func set(_ temporary: String) {
        lock.lock()
        path = strdup(temporary)
        for signal in signals {
            let old = Glibc.signal(signal, handleSignal)
            previous[Int(signal)] = old.map { unsafeBitCast($0, to: Int.self) } ?? 0
        }
        lock.unlock()
    }

    static func clear() {
        lock.lock()
        for signal in signals {
            let old = previous[Int(signal)]
            _ = Glibc.signal(signal, old == 0 ? SIG_DFL : unsafeBitCast(old, to: sighandler_t.self))
        }
        let old = path
        path = nil
        free(old)
        lock.unlock()
    }
}

/// Async-signal-safe: `unlink`, `signal` and `raise` only.
private func handleSignal(_ signal: Int32) {
    if let path = PendingTemporary.path { unlink(path) }
    let previous = PendingTemporary.previous[Int(signal)]
    if previous > 1 {
        unsafeBitCast(previous, to: sighandler_t.self)(signal)
    } else if previous == 0 {
        _ = Glibc.signal(signal, SIG_DFL)
        raise(signal)
    }
}
