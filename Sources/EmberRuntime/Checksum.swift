import EmberZlib

/// CRC-32 (zlib's), the checksum engine files carry.
enum Checksum {
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        var crc = EmberZlib.crc32(0, nil, 0)
        var offset = 0
        // zlib takes lengths as 32-bit values; feed it in chunks.
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 30)
            crc = EmberZlib.crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(chunk))
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
