import EmberIR

/// The element types the fast float kernels are specialized for. Kernels read elements with
/// `Double(x)`, compute in `Double` and round once with `T(value)`, so `Float` and `Double` give the
/// same results as converting the tensor to `Double` first, without the copy.
protocol KernelFloat: BinaryFloatingPoint, Sendable {}
extension Float: KernelFloat {}
extension Double: KernelFloat {}

/// A kernel over one floating point tensor: `f32` runs on its `Float` buffer, every other float
/// dtype on a `Double` copy.
///
/// Conformers write one generic kernel and forward both `run`s to it from the same file: files
/// are compiled separately in debug builds, so only a call in the kernel's own file is specialized.
protocol FloatMap {
    /// Fills `y` from `x`, whose shape is `shape`.
    func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws
    func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) throws
}

extension FloatMap {
    /// Runs the kernel on `x` and returns a tensor of `x`'s dtype and shape `shape` (by default, `x`'s).
    func apply(_ x: Tensor, shape: [Int]? = nil) throws -> Tensor {
        let shape = shape ?? x.shape
        let n = Tensor.elementCount(shape) ?? 0
        switch x.storage {
        case .f32(let a):
            let y = try a.withUnsafeBufferPointer { src in
                try [Float](unsafeUninitializedCapacity: n) { dst, initialized in
                    dst.initialize(repeating: 0)
                    initialized = n
                    try run(src, dst, shape: x.shape)
                }
            }
            return Tensor(shape: shape, storage: .f32(y))
        default:
            let y = try x.doubles().withUnsafeBufferPointer { src in
                try [Double](unsafeUninitializedCapacity: n) { dst, initialized in
                    dst.initialize(repeating: 0)
                    initialized = n
                    try run(src, dst, shape: x.shape)
                }
            }
            return Tensor(x.dtype, shape: shape, doubles: y)
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
