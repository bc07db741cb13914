#if canImport(Glibc)
import Glibc
#endif

/// Hints for large buffers about to be filled: huge pages where the system grants them on request,
/// and every page mapped in one call, instead of one fault per 4 KiB page as the copy reaches it.
public enum LargeMemory {
    public static let threshold = 1 << 20
    /// The size of a huge page: large buffers aligned to it can be backed by huge pages whole.
    public static let hugePage = 2 << 20

    public static func prepare(_ buffer: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        guard buffer.count >= threshold, let base = buffer.baseAddress else { return }
        let huge = hugePage, page = 4096
        let start = Int(bitPattern: base), end = start + buffer.count
        let hugeStart = (start + huge - 1) / huge * huge, hugeEnd = end / huge * huge
        if hugeEnd > hugeStart {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: hugeStart), hugeEnd - hugeStart, 14)  // MADV_HUGEPAGE
        }
        let pageStart = (start + page - 1) / page * page, pageEnd = end / page * page
        if pageEnd > pageStart {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: pageStart), pageEnd - pageStart, 23)  // MADV_POPULATE_WRITE
        }
        #endif
    }
}
