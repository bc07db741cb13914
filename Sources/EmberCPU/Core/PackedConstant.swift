/// A weight a kernel packed into its primitive's format, as an engine file stores it so that
/// loading does not pack it again: the packed bytes and two oneDNN memory descriptors, the packed
/// format's and the plain weight's, that give them meaning.
public struct PackedConstant: @unchecked Sendable {
    /// The packed format's descriptor, as `MemoryDesc.encoded` writes it.
    public var format: [UInt8]
    /// The plain weight's descriptor: what the packed bytes are a reordering of.
    public var plain: [UInt8]
    public var bytes: UnsafeRawBufferPointer
    /// What keeps `bytes` valid (a mapped engine file): kernels then read them where they are.
    /// Without one, they are valid only while the program is built, which copies them.
    public var owner: AnyObject?

    public init(format: [UInt8], plain: [UInt8], bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.format = format
        self.plain = plain
        self.bytes = bytes
        self.owner = owner
    }
}
