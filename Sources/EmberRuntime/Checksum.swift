import EmberChecksum

/// The checksum engine files carry: XXH3-64 (xxHash), fast enough to check every byte of a large
/// engine each time it loads.
enum Checksum {
    static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        ember_checksum(bytes.baseAddress, bytes.count)
    }
}
