import EmberIR

/// How the inputs of a broadcast elementwise op line up with its output.
///
/// Dims of size 1 are dropped and neighbouring dims that are contiguous in every input are
/// merged, so a same-shape op is one row, `[n,c,h,w] + [c,1,1]` is `n*c` rows of `h*w`, and the
/// loops below only walk an index per row, never per element.
struct BroadcastPlan {
    /// The broadcast output shape.
    let shape: [Int]
    let count: Int
    /// Merged dims, outermost first; never empty.
    let dims: [Int]
    /// For each input, its stride along each merged dim; 0 where the input is broadcast.
    let strides: [[Int]]

    init(_ tensors: [Tensor], op: String) throws {
        let shapes = tensors.map(\.shape)
        for t in tensors where Tensor.elementCount(t.shape) != t.count {
            throw EmberError.op(op, "a \(t.shape) input holds \(t.count) elements")
        }
        let shape = try Broadcast.shape(shapes, op: op)
        guard let count = Tensor.elementCount(shape) else {
            throw EmberError.op(op, "output shape \(shape) is too large")
        }
        self.shape = shape
        self.count = count
        let layout = try BroadcastStrides(inputs: shapes, output: shape, op: op)
        dims = layout.dims
        strides = layout.strides
    }
}

/// Walks the rows of a `BroadcastPlan`, outermost first.
///
///     var rows = RowCursor(plan)
///     while rows.start < plan.count {
///         // elements rows.start ..< rows.start + rows.length of the output read
///         // input k from rows.offsets[k], stepping by plan.strides[k].last
///         rows.advance()
///     }
///
/// Callers keep the inner loop in their own function, so it specializes and inlines there.
struct RowCursor {
    private let dims: [Int]
    private let strides: [[Int]]
    private var index: [Int]
    /// The flat offset of the current row's first element in each input.
    private(set) var offsets: [Int]
    /// The flat offset of the current row's first element in the output.
    private(set) var start = 0
    /// Elements per row.
    let length: Int

    init(_ plan: BroadcastPlan) {
        dims = plan.dims
        strides = plan.strides
        index = [Int](repeating: 0, count: plan.dims.count)
        offsets = [Int](repeating: 0, count: plan.strides.count)
        length = plan.dims[plan.dims.count - 1]
    }

    /// Moves to the next row.
    mutating func advance() {
        start += length
        var axis = dims.count - 2
        while axis >= 0 {
            index[axis] += 1
            for k in offsets.indices { offsets[k] += strides[k][axis] }
            if index[axis] < dims[axis] { return }
            for k in offsets.indices { offsets[k] -= strides[k][axis] * dims[axis] }
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Typed elementwise loops over unsafe buffers, for ops off the hot path.
///
/// EmberOps builds file by file (not whole-module) in debug builds, so a generic function is only
/// specialized, and its per-element function inlined, when caller and callee share a file. Ops that
/// whole models lean on (`add`, `relu`, `gelu`...) write their loops next to their definitions
/// (see `Unary.swift`, `Arithmetic.swift`); the rest use these.
enum Loops {
    /// `f` applied to every element.
    @inline(__always)
    static func map<T, R>(_ x: [T], _ f: (T) -> R) -> [R] {
        x.withUnsafeBufferPointer { src in
            [R](unsafeUninitializedCapacity: src.count) { out, initialized in
                guard let o = out.baseAddress else { return }
                for i in 0..<src.count { (o + i).initialize(to: f(src[i])) }
                initialized = src.count
            }
        }
    }

    /// `f` applied to broadcast pairs of elements, laid out by `plan` (made from the two inputs).
    @inline(__always)
    static func map<A, B, R>(_ a: [A], _ b: [B], _ plan: BroadcastPlan, _ f: (A, B) -> R) -> [R] {
        let innerA = plan.strides[0][plan.dims.count - 1]
        let innerB = plan.strides[1][plan.dims.count - 1]
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                [R](unsafeUninitializedCapacity: plan.count) { out, initialized in
                    guard let o = out.baseAddress else { return }
                    var rows = RowCursor(plan)
                    while rows.start < plan.count {
                        let (ia, ib, dst) = (rows.offsets[0], rows.offsets[1], o + rows.start)
                        for j in 0..<rows.length {
                            (dst + j).initialize(to: f(pa[ia + j * innerA], pb[ib + j * innerB]))
                        }
                        rows.advance()
                    }
                    initialized = plan.count
                }
            }
        }
    }
}
