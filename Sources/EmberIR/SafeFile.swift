import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file opened once and read through its descriptor, so what was checked is what is read.
///
/// Every file Ember reads is opened here: the model a user names with `open(_:)`, and every path a
/// model names (ONNX external data) with `open(_:beneath:)`, which walks the path one component at
/// a time from the model's folder and refuses symbolic links, `..` and absolute paths, so a model
/// can never make Ember read a file outside its folder. Both open without blocking (a FIFO or a
/// device is refused, not waited on) and take the size from the open descriptor.
///
///     let weights = try SafeFile.open("weights.bin", beneath: "/models/resnet")
///     let bytes = try weights.read(at: 0, count: 4096)
public final class SafeFile {
    /// The open descriptor; closed when the file is released.
    public let descriptor: Int32
    /// The file's size in bytes, from `fstat` on the open descriptor.
    public let size: Int
    /// The path as it was named, for messages.
    public let path: String

    private init(descriptor: Int32, path: String) throws {
        self.descriptor = descriptor
        self.path = path
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let reason = Self.reason(errno)
            close(descriptor)
            throw EmberError(.io, "cannot read '\(path)': \(reason)")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw EmberError(.io, "'\(path)' is \(Self.kind(status.st_mode)), not a regular file")
        }
        size = Int(status.st_size)
        // Reads block from here on: the descriptor names a regular file.
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
    }

    deinit { close(descriptor) }

    /// The file at `path` as the user named it (symbolic links followed); a regular file only.
    public static func open(_ path: String) throws -> SafeFile {
        guard !path.isEmpty, !path.contains("\0") else { throw EmberError(.io, "the file path '\(path)' is not valid") }
        let fd = systemOpen(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw EmberError(.io, "cannot open '\(path)': \(reason(errno))") }
        return try SafeFile(descriptor: fd, path: path)
    }

    /// The file at `relative` inside the folder `directory`, opened without leaving it: each
    /// component is opened from the one before with `O_NOFOLLOW`, so no symbolic link is followed
    /// (one is refused, naming it), and `..`, absolute paths and empty components are refused.
    /// Nothing is checked apart from being opened, so the file cannot change between the two.
    public static func open(_ relative: String, beneath directory: String) throws -> SafeFile {
        let components = try checkedComponents(relative)
        let rootFD = systemOpen(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw EmberError(.io, "cannot open the folder '\(directory)': \(reason(errno))") }
        var current = rootFD
        defer { close(current) }
        for (i, component) in components.enumerated() {
            let last = i == components.count - 1
            let flags = last ? O_RDONLY | O_NONBLOCK | O_NOCTTY : O_RDONLY | O_DIRECTORY
            let fd = openat(current, component, flags | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else {
                let error = errno
                let named = components[...i].joined(separator: "/")
                if error == ELOOP || (error == ENOTDIR && isSymbolicLink(current, component)) {
                    throw EmberError(
                        .invalidModel,
                        "'\(relative)' goes through the symbolic link '\(named)'; files a model names must be plain files inside its folder '\(directory)'")
                }
                if error == ENOTDIR { throw EmberError(.io, "'\(named)' in '\(relative)' is not a folder") }
                throw EmberError(.io, "cannot open '\(relative)' in '\(directory)': \(reason(error))")
            }
            close(current)
            current = fd
            if last {
                current = -1
                return try SafeFile(descriptor: fd, path: relative)
            }
        }
        throw EmberError(.io, "'\(relative)' names no file")
    }

    /// The parts of a relative path a model names, each a plain name.
    static func checkedComponents(_ relative: String) throws -> [String] {
        guard !relative.isEmpty, !relative.contains("\0"), !relative.hasPrefix("/"), !relative.hasPrefix("\\") else {
            throw EmberError(.invalidModel, "'\(relative)' must be a relative path inside the model's folder")
        }
        let parts = relative.split(whereSeparator: { $0 == "/" || $0 == "\\" }).map(String.init).filter { $0 != "." }
        guard !parts.isEmpty else { throw EmberError(.invalidModel, "'\(relative)' names no file") }
        guard !parts.contains("..") else {
            throw EmberError(.invalidModel, "'\(relative)' leaves the model's folder")
        }
        return parts
    }

    private static func isSymbolicLink(_ directory: Int32, _ name: String) -> Bool {
        var status = stat()
        return fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 && (status.st_mode & S_IFMT) == S_IFLNK
    }

    /// `count` bytes from `offset`, read with `pread`; fewer only where the file ends first is an error.
    public func read(at offset: Int, count: Int) throws -> Data {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw EmberError(.io, "'\(path)' has \(size) bytes; cannot read \(count) from offset \(offset)")
        }
        var data = Data(count: count)
        var done = 0
        try data.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    throw EmberError(.io, n == 0 ? "'\(path)' ended early (it changed while read)" : "cannot read '\(path)': \(Self.reason(errno))")
                }
                done += n
            }
        }
        return data
    }

    /// Up to `count` bytes from the start: all of a shorter file.
    public func prefix(_ count: Int) throws -> Data { try read(at: 0, count: min(count, size)) }

    /// The whole file, mapped read-only: pages are read when touched and the mapping lives as long
    /// as the data.
    public func mapped() throws -> Data {
        guard size > 0 else { return Data() }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            return try read(at: 0, count: size)
        }
        let length = size
        return Data(bytesNoCopy: base, count: length, deallocator: .custom { pointer, _ in munmap(pointer, length) })
    }

    private static func systemOpen(_ path: String, _ flags: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.open(path, flags)
        #else
        Darwin.open(path, flags)
        #endif
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES, EPERM: "permission denied"
        case EISDIR: "it is a directory"
        default: String(cString: strerror(code))
        }
    }

    /// What a file that is not a regular one is, in words.
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }
}
