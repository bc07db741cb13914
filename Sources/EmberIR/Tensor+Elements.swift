import Foundation

/// Converting a tensor's elements to and from the few types the reference kernels compute in:
/// `Double` for floating point, `Int64` for integers, `Bool`, and `Float` for the fast f32 paths.
extension Tensor {
    /// A tensor of `dtype` holding `values` rounded (or truncated, for integers) to that type.
    public init(_ dtype: DType, shape: [Int], doubles values: [Double]) {
        self.init(shape: shape, storage: .fromDoubles(values, as: dtype))
    }

    /// A tensor of `dtype` holding `values`, wrapped to the width of integer types.
    public init(_ dtype: DType, shape: [Int], int64s values: [Int64]) {
        self.init(shape: shape, storage: .fromInt64s(values, as: dtype))
    }

    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, storage: .f32(floats)) }
    public init(shape: [Int], int64s: [Int64]) { self.init(shape: shape, storage: .i64(int64s)) }
    public init(shape: [Int], bools: [Bool]) { self.init(shape: shape, storage: .bool(bools)) }

    /// A rank-0 tensor.
    public init(scalar: Double, _ dtype: DType) { self.init(dtype, shape: [], doubles: [scalar]) }

    /// A tensor of `shape` with every element `value`.
    public init(filling value: Double, _ dtype: DType, shape: [Int]) {
        let n = Tensor.elementCount(shape) ?? 0
        self.init(dtype, shape: shape, doubles: [Double](repeating: value, count: n))
    }

    /// The elements as `Double` (integers and bools converted exactly where they fit).
    public func doubles() -> [Double] {
        switch storage {
        case .f64(let a): a
        case .f32(let a): a.map(Double.init)
        case .f16(let a): a.map { Double(Float($0)) }
        case .bf16(let a): a.map { Double($0.floatValue) }
        case .i64(let a): a.map(Double.init)
        case .i32(let a): a.map(Double.init)
        case .i16(let a): a.map(Double.init)
        case .i8(let a): a.map(Double.init)
        case .u64(let a): a.map { Double($0) }
        case .u32(let a): a.map(Double.init)
        case .u16(let a): a.map(Double.init)
        case .u8(let a): a.map(Double.init)
        case .bool(let a): a.map { $0 ? 1 : 0 }
        }
    }

    /// The elements as `Float`; the fast path for f32 kernels.
    public func floats() -> [Float] {
        if case .f32(let a) = storage { return a }
        return doubles().map { Float($0) }
    }

    /// The elements as `Int64`: floats truncated toward zero (saturating), unsigned 64-bit by bit pattern.
    public func int64s() -> [Int64] {
        switch storage {
        case .i64(let a): a
        case .i32(let a): a.map(Int64.init)
        case .i16(let a): a.map(Int64.init)
        case .i8(let a): a.map(Int64.init)
        case .u64(let a): a.map { Int64(bitPattern: $0) }
        case .u32(let a): a.map(Int64.init)
        case .u16(let a): a.map(Int64.init)
        case .u8(let a): a.map(Int64.init)
        case .bool(let a): a.map { $0 ? 1 : 0 }
        case .f64, .f32, .f16, .bf16: doubles().map(Int64.saturating)
        }
    }

    /// The elements as `Int`, for shapes, axes and indices.
    public func ints() -> [Int] { int64s().map { Int(truncatingIfNeeded: $0) } }

    /// The elements as `Bool`: nonzero is true.
    public func bools() -> [Bool] {
        if case .bool(let a) = storage { return a }
        if dtype.isFloatingPoint { return doubles().map { $0 != 0 } }
        return int64s().map { $0 != 0 }
    }

    /// The single element of a tensor with one element, as a `Double`.
    public var scalarDouble: Double? { count == 1 ? doubles()[0] : nil }
    /// The single element of a tensor with one element, as an `Int`.
    public var scalarInt: Int? { count == 1 ? ints()[0] : nil }

    /// This tensor converted to `dtype` with ONNX `Cast` semantics.
    public func cast(to dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        if dtype == .bool { return Tensor(shape: shape, bools: bools()) }
        if self.dtype.isInteger || self.dtype == .bool, dtype.isInteger {
            return Tensor(dtype, shape: shape, int64s: int64s())
        }
        if self.dtype == .u64, dtype.isFloatingPoint {
            return Tensor(dtype, shape: shape, doubles: doubles())
        }
        return Tensor(dtype, shape: shape, doubles: doubles())
    }

    /// A tensor of `shape` whose element `i` is this tensor's element `indices[i]`.
    /// This one primitive carries every data-movement op, whatever the dtype.
    public func gathering(_ indices: [Int], shape: [Int]) -> Tensor {
        func pick<T>(_ a: [T]) -> [T] {
            a.withUnsafeBufferPointer { src in indices.map { src[$0] } }
        }
        let s: TensorStorage =
            switch storage {
            case .f64(let a): .f64(pick(a))
            case .f32(let a): .f32(pick(a))
            case .f16(let a): .f16(pick(a))
            case .bf16(let a): .bf16(pick(a))
            case .i64(let a): .i64(pick(a))
            case .i32(let a): .i32(pick(a))
            case .i16(let a): .i16(pick(a))
            case .i8(let a): .i8(pick(a))
            case .u64(let a): .u64(pick(a))
            case .u32(let a): .u32(pick(a))
            case .u16(let a): .u16(pick(a))
            case .u8(let a): .u8(pick(a))
            case .bool(let a): .bool(pick(a))
            }
        return Tensor(shape: shape, storage: s)
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ shape: [Int]) -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Tensors of one dtype joined end to end as flat storage (the caller sets the shape).
    public static func concatenatedStorage(_ parts: [Tensor]) -> TensorStorage? {
        guard let first = parts.first else { return nil }
        func join<T>(_ extract: (TensorStorage) -> [T]?) -> [T]? {
            var out: [T] = []
            for p in parts {
                guard let a = extract(p.storage) else { return nil }
                out.append(contentsOf: a)
            }
            return out
        }
        switch first.storage {
        case .f64: return join { if case .f64(let a) = $0 { a } else { nil } }.map { .f64($0) }
        case .f32: return join { if case .f32(let a) = $0 { a } else { nil } }.map { .f32($0) }
        case .f16: return join { if case .f16(let a) = $0 { a } else { nil } }.map { .f16($0) }
        case .bf16: return join { if case .bf16(let a) = $0 { a } else { nil } }.map { .bf16($0) }
        case .i64: return join { if case .i64(let a) = $0 { a } else { nil } }.map { .i64($0) }
        case .i32: return join { if case .i32(let a) = $0 { a } else { nil } }.map { .i32($0) }
        case .i16: return join { if case .i16(let a) = $0 { a } else { nil } }.map { .i16($0) }
        case .i8: return join { if case .i8(let a) = $0 { a } else { nil } }.map { .i8($0) }
        case .u64: return join { if case .u64(let a) = $0 { a } else { nil } }.map { .u64($0) }
        case .u32: return join { if case .u32(let a) = $0 { a } else { nil } }.map { .u32($0) }
        case .u16: return join { if case .u16(let a) = $0 { a } else { nil } }.map { .u16($0) }
        case .u8: return join { if case .u8(let a) = $0 { a } else { nil } }.map { .u8($0) }
        case .bool: return join { if case .bool(let a) = $0 { a } else { nil } }.map { .bool($0) }
        }
    }
}

extension TensorStorage {
    /// Storage of `dtype` from doubles: rounded for floats, truncated toward zero and
    /// saturated for integers (out-of-range casts are undefined in ONNX; Ember never traps on them).
    public static func fromDoubles(_ v: [Double], as dtype: DType) -> TensorStorage {
        switch dtype {
        case .f64: .f64(v)
        case .f32: .f32(v.map { Float($0) })
        case .f16: .f16(v.map { Float16(Float($0)) })
        case .bf16: .bf16(v.map { BFloat16(Float($0)) })
        case .bool: .bool(v.map { $0 != 0 })
        case .u64: .u64(v.map { $0.isNaN || $0 <= 0 ? 0 : ($0 >= 18446744073709551615.0 ? UInt64.max : UInt64($0)) })
        default: .fromInt64s(v.map(Int64.saturating), as: dtype)
        }
    }

    /// Storage of `dtype` from `Int64`s, wrapping to the type's width.
    public static func fromInt64s(_ v: [Int64], as dtype: DType) -> TensorStorage {
        switch dtype {
        case .i64: .i64(v)
        case .i32: .i32(v.map { Int32(truncatingIfNeeded: $0) })
        case .i16: .i16(v.map { Int16(truncatingIfNeeded: $0) })
        case .i8: .i8(v.map { Int8(truncatingIfNeeded: $0) })
        case .u64: .u64(v.map { UInt64(bitPattern: $0) })
        case .u32: .u32(v.map { UInt32(truncatingIfNeeded: $0) })
        case .u16: .u16(v.map { UInt16(truncatingIfNeeded: $0) })
        case .u8: .u8(v.map { UInt8(truncatingIfNeeded: $0) })
        case .bool: .bool(v.map { $0 != 0 })
        case .f64, .f32, .f16, .bf16: .fromDoubles(v.map(Double.init), as: dtype)
        }
    }
}

extension Int64 {
    /// `value` truncated toward zero, clamped to the range of `Int64`; NaN becomes 0.
    public static func saturating(_ value: Double) -> Int64 {
        if value.isNaN { return 0 }
        if value >= 9.2233720368547758e18 { return .max }
        if value <= -9.2233720368547758e18 { return .min }
        return Int64(value)
    }
}
