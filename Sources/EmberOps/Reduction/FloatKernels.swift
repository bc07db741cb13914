import EmberIR

/// The element types the fast float kernels are specialized for. Kernels read elements,
/// compute in `Double` and round once on the way out, so `Float` and `Double` give the same
/// results as converting to `Double` first, without the copy.
public protocol KernelFloat: Sendable {
    /// `value` rounded to this type.
    init(rounding value: Double)
    /// The value as a `Double` (exact).
    var double: Double { get }
}

extension Float: KernelFloat {
    @inlinable @inline(__always) public init(rounding value: Double) { self.init(value) }
    @inlinable @inline(__always) public var double: Double { Double(self) }
}

extension Double: KernelFloat {
    @inlinable @inline(__always) public init(rounding value: Double) { self = value }
    @inlinable @inline(__always) public var double: Double { self }
}

/// A kernel over one floating point tensor, written once for any `KernelFloat` element type:
/// `f32` runs on its `Float` buffer, every other float dtype on a `Double` copy.
protocol FloatMap {
    /// Fills `y` from `x`, whose shape is `shape`.
    func run<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, shape: [Int]) throws
}

extension FloatMap {
    /// Runs the kernel on `x` and returns a tensor of `x`'s dtype and shape `shape` (by default, `x`'s).
    func apply(_ x: Tensor, shape: [Int]? = nil) throws -> Tensor {
        let shape = shape ?? x.shape
        let n = Tensor.elementCount(shape) ?? 0
        func go<T: KernelFloat>(_ a: [T]) throws -> [T] {
            try a.withUnsafeBufferPointer { src in
                try [T](unsafeUninitializedCapacity: n) { dst, initialized in
                    dst.initialize(repeating: T(rounding: 0))
                    initialized = n
                    try run(src, dst, shape: x.shape)
                }
            }
        }
        switch x.storage {
        case .f32(let a): return Tensor(shape: shape, storage: .f32(try go(a)))
        case .f64(let a): return Tensor(shape: shape, storage: .f64(try go(a)))
        default: return Tensor(x.dtype, shape: shape, doubles: try go(x.doubles()))
        }
    }
}

/// A tensor seen as `[outer, axis, inner]` around one axis: the layout of every op that works
/// along a single axis (softmax, arg max, cumulative sum, top-k).
struct AxisLayout {
    var outer: Int
    var size: Int
    var inner: Int

    init(_ shape: [Int], axis: Int) {
        outer = shape[..<axis].reduce(1, *)
        size = axis < shape.count ? shape[axis] : 1
        inner = shape[(min(axis + 1, shape.count))...].reduce(1, *)
    }

    /// The flat index of element `j` along the axis of line `line` (`line` in `0..<outer*inner`).
    @inline(__always) func base(_ line: Int) -> Int { (line / inner) * size * inner + line % inner }

    var lines: Int { outer * inner }
}

extension Array where Element == Int {
    /// The product of the elements; 1 when empty.
    var product: Int { reduce(1, *) }
}

extension TensorType {
    /// This type with another shape.
    func with(shape: [Dim]?) -> TensorType { TensorType(dtype, shape) }
}

/// Reads an integer input that must be a scalar or a one-element tensor (`axis`, `k`).
func scalarInput(_ t: Tensor, _ op: String, _ what: String) throws -> Int {
    guard t.dtype == .i64 || t.dtype == .i32 else {
        throw EmberError(.typeMismatch, "[\(op)] \(what) has dtype \(t.dtype), expected i64 or i32")
    }
    guard t.rank <= 1, let v = t.scalarInt else {
        throw EmberError(.shapeMismatch, "[\(op)] \(what) has shape \(t.shape), expected a single value")
    }
    return v
}
