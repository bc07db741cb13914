/// The element types a tensor can have.
///
/// The raw value is the spelling used in the text IR (`f32[batch,3,224,224]`).
public enum DType: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case f64, f32, f16, bf16
    case i64, i32, i16, i8
    case u64, u32, u16, u8
    case bool

    public var description: String { rawValue }

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool: 1
        }
    }

    public var isFloatingPoint: Bool { Self.floatingPoint.contains(self) }
    public var isInteger: Bool { Self.integers.contains(self) }
    public var isSignedInteger: Bool { [.i64, .i32, .i16, .i8].contains(self) }

    /// The floating point types, widest first.
    public static let floatingPoint: Set<DType> = [.f64, .f32, .f16, .bf16]
    /// The integer types, signed and unsigned.
    public static let integers: Set<DType> = [.i64, .i32, .i16, .i8, .u64, .u32, .u16, .u8]
    /// Every numeric type: what arithmetic accepts.
    public static let numeric: Set<DType> = floatingPoint.union(integers)
    /// Every type.
    public static let all: Set<DType> = Set(allCases)

    /// The code ONNX's `TensorProto.DataType` uses for this type.
    public var onnxCode: Int {
        switch self {
        case .f32: 1
        case .u8: 2
        case .i8: 3
        case .u16: 4
        case .i16: 5
        case .i32: 6
        case .i64: 7
        case .bool: 9
        case .f16: 10
        case .f64: 11
        case .u32: 12
        case .u64: 13
        case .bf16: 16
        }
    }

    /// The type for an ONNX `TensorProto.DataType` code, or nil for types Ember does not support.
    public init?(onnxCode: Int) {
        guard let match = DType.allCases.first(where: { $0.onnxCode == onnxCode }) else { return nil }
        self = match
    }
}
