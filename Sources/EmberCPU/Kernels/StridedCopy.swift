import EmberIR

/// Copies a strided walk of one tensor into a contiguous output: output element `(i0, i1, ...)`
/// comes from input element `offset + Σ i_d * strides[d]` (strides in elements, possibly 0 or
/// negative). Dims of size 1 are dropped and neighbours the input walks as one are merged, so a
/// transpose that keeps the last dim, a slice or a broadcast copies whole rows with `memcpy`.
struct StridedCopy {
    var dims: [Int]
    var strides: [Int]
    var offset: Int
    var elementSize: Int

    init(shape: [Int], strides: [Int], offset: Int, elementSize: Int) {
        var dims: [Int] = []
        var merged: [Int] = []
        for d in shape.indices where shape[d] != 1 {
            if let last = merged.last, last == strides[d] * shape[d] {
                dims[dims.count - 1] *= shape[d]
                merged[merged.count - 1] = strides[d]
            } else {
                dims.append(shape[d])
                merged.append(strides[d])
            }
        }
        if dims.isEmpty { (dims, merged) = ([1], [1]) }
        (self.dims, self.strides, self.offset, self.elementSize) = (dims, merged, offset, elementSize)
    }

    var inner: Int { dims[dims.count - 1] }
    var rows: Int { dims.dropLast().reduce(1, *) }

    /// Runs the copy from `input` into `output`, rows split over threads.
    func run(from input: UnsafeRawPointer, to output: UnsafeMutableRawPointer) {
        let (rows, inner, size) = (self.rows, self.inner, elementSize)
        guard rows * inner > 0 else { return }
        let chunks = chunkCount(rows, itemCost: inner * size / 4)
        let shared = Shared((input, output))
        Parallel.forEach(chunks) { range in
            let (input, output) = shared.value
            for chunk in range {
                copyRows((rows * chunk / chunks)..<(rows * (chunk + 1) / chunks), input, output)
            }
        }
    }

    private func copyRows(_ rows: Range<Int>, _ input: UnsafeRawPointer, _ output: UnsafeMutableRawPointer) {
        let inner = self.inner
        let innerStride = strides[strides.count - 1]
        for row in rows {
            var source = offset
            var rest = row
            for d in stride(from: dims.count - 2, through: 0, by: -1) {
                source += (rest % dims[d]) * strides[d]
                rest /= dims[d]
            }
            let dst = output + row * inner * elementSize
            let src = input + source * elementSize
            if innerStride == 1 {
                dst.copyMemory(from: src, byteCount: inner * elementSize)
                continue
            }
            switch elementSize {
            case 4: Self.gather(src, innerStride, dst, inner, as: UInt32.self)
            case 8: Self.gather(src, innerStride, dst, inner, as: UInt64.self)
            case 2: Self.gather(src, innerStride, dst, inner, as: UInt16.self)
            default: Self.gather(src, innerStride, dst, inner, as: UInt8.self)
            }
        }
    }

    @inline(__always)
    private static func gather<T>(_ src: UnsafeRawPointer, _ stride: Int, _ dst: UnsafeMutableRawPointer, _ n: Int, as: T.Type) {
        let s = src.assumingMemoryBound(to: T.self)
        let d = dst.assumingMemoryBound(to: T.self)
        for j in 0..<n { d[j] = s[j * stride] }
    }
}

extension TensorView {
    /// Throws unless this view has `shape` and `dtype`.
    func expect(shape: [Int], dtype: DType, _ node: KernelNode, _ what: String = "output") throws {
        guard self.shape == shape, self.dtype == dtype else {
            throw node.error(.shapeMismatch, "\(what) is \(self.dtype)\(self.shape), expected \(dtype)\(shape)")
        }
    }

    /// The elements of an i64 or i32 view as `Int`s.
    func indexValues(_ node: KernelNode, _ what: String) throws -> [Int] {
        switch dtype {
        case .i64: return (0..<count).map { Int(pointer(as: Int64.self)[$0]) }
        case .i32: return (0..<count).map { Int(pointer(as: Int32.self)[$0]) }
        default: throw node.error(.typeMismatch, "\(what) has dtype \(dtype), expected i64 or i32")
        }
    }
}
