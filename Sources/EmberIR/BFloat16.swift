/// Brain floating point: the top 16 bits of an IEEE `Float`, rounded to nearest even.
public struct BFloat16: Hashable, Sendable, CustomStringConvertible {
    public var bitPattern: UInt16

    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x40
        } else {
            // Round to nearest, ties to even, on the 16 bits that are dropped.
            let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
        }
    }

    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
    public var description: String { floatValue.description }
}
