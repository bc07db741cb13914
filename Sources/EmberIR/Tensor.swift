/// The elements of a tensor, stored as a Swift array of the dtype's element type.
///
/// Arrays are copy-on-write, so a tensor passed around or used by many nodes shares one buffer.
public enum TensorStorage: Sendable, Equatable {
    case f64([Double]), f32([Float]), f16([Float16]), bf16([BFloat16])
    case i64([Int64]), i32([Int32]), i16([Int16]), i8([Int8])
    case u64([UInt64]), u32([UInt32]), u16([UInt16]), u8([UInt8])
    case bool([Bool])

    public var dtype: DType {
        switch self {
        case .f64: .f64
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .i64: .i64
        case .i32: .i32
        case .i16: .i16
        case .i8: .i8
        case .u64: .u64
        case .u32: .u32
        case .u16: .u16
        case .u8: .u8
        case .bool: .bool
        }
    }

    public var count: Int {
        switch self {
        case .f64(let a): a.count
        case .f32(let a): a.count
        case .f16(let a): a.count
        case .bf16(let a): a.count
        case .i64(let a): a.count
        case .i32(let a): a.count
        case .i16(let a): a.count
        case .i8(let a): a.count
        case .u64(let a): a.count
        case .u32(let a): a.count
        case .u16(let a): a.count
        case .u8(let a): a.count
        case .bool(let a): a.count
        }
    }
}

/// A dense, row-major tensor with a concrete shape.
///
///     let x = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
///     x.dtype   // .f32
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public var shape: [Int]
    public var storage: TensorStorage

    /// Creates a tensor; the element count must match the shape.
    public init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    public var dtype: DType { storage.dtype }
    public var rank: Int { shape.count }
    public var count: Int { storage.count }
    public var type: TensorType { TensorType(dtype, known: shape) }

    public var description: String { "tensor<\(type)>" }

    /// Row-major strides of `shape`, in elements.
    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = running
            running *= shape[i]
        }
        return strides
    }

    /// Number of elements of a shape, or nil when `TensorSize` refuses it (a negative or absurd
    /// dim, or too many elements).
    public static func elementCount(_ shape: [Int]) -> Int? {
        try? TensorSize.elementCount(shape, of: "")
    }
}
