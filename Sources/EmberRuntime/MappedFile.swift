import EmberIR
#if canImport(Glibc)
import Glibc
#endif

/// A file mapped read-only into memory, its pages read in at once. Pages already read can be
/// handed back with `release`: they leave the process's resident memory and are read from the
/// file again if touched, so a loader that copies the file piece by piece never holds it twice.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer

    /// Maps the regular file opened as `file`.
    init(_ file: SafeFile) throws {
        let size = file.size
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file.descriptor, 0), base != MAP_FAILED else {
            throw EmberError(.io, "cannot map '\(file.path)': \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Drops the whole pages inside `range` from resident memory; their bytes stay readable.
    func release(_ range: Range<Int>) {
        guard let base = bytes.baseAddress else { return }
        let page = Self.pageSize
        let start = (range.lowerBound + page - 1) / page * page
        let end = min(range.upperBound, bytes.count) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
