import EmberIR
import EmberOps

extension CUDAKernelPlan {
    /// `transpose`, `slice` and `expand` as strided views of their input, `concat`, `gather` and
    /// `gather_elements`: copies of any dtype, bit for bit. Slices and expands take their starts, ends, axes,
    /// steps and shapes from constants; the kernel reads only the data.
    static func dataMovement(_ node: CUDANode, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        guard let y = node.outputs.first, node.outputs.count == 1 else {
            return .failure(EmberError(.unsupported, "expected one output"))
        }
        func copy(_ view: Result<CUDACopyGenerator.View, EmberError>, _ x: CUDATensorType) -> Result<CUDAKernelPlan, EmberError> {
            view.flatMap { view in
                guard view.dims == y.shape, y.dtype == x.dtype else {
                    return .failure(EmberError(.unsupported, "the output \(y) is not the \(x.dtype)\(view.dims) the op gives"))
                }
                var kernel = CUDACopyGenerator.strided(view, bytes: x.dtype.byteSize, multiprocessors: multiprocessors)
                kernel.reads = [0]
                return .success(.generated(kernel))
            }
        }
        guard let x = node.inputs.first ?? nil else { return .failure(EmberError(.unsupported, "expected an input")) }
        switch node.op {
        case let op as Transpose: return copy(transposeView(op, x), x)
        case is SliceOp: return copy(sliceView(node, x), x)
        case is Expand: return copy(expandView(x, y), x)
        case let op as Concat: return concat(op, node, y, multiprocessors: multiprocessors)
        case let op as Gather: return gather(op, node, y, multiprocessors: multiprocessors)
        case let op as GatherElements: return gatherElements(op, node, y, multiprocessors: multiprocessors)
        default: return .failure(EmberError(.unsupported, "\(node.op.name) is not a copy"))
        }
    }

    static func transposeView(_ op: Transpose, _ x: CUDATensorType) -> Result<CUDACopyGenerator.View, EmberError> {
        let rank = x.shape.count
        let perm = op.perm ?? Array((0..<rank).reversed())
        guard perm.sorted() == Array(0..<rank) else {
            return .failure(EmberError(.unsupported, "perm \(perm) is not a permutation of \(rank) axes"))
        }
        let strides = Tensor.strides(of: x.shape)
        return .success(.init(dims: perm.map { x.shape[$0] }, strides: perm.map { strides[$0] }, offset: 0))
    }

    /// ONNX's slicing rule per axis: negative starts and ends count from the end, both are
    /// clamped to the dim, and a negative step walks backwards.
    static func sliceView(_ node: CUDANode, _ x: CUDATensorType) -> Result<CUDACopyGenerator.View, EmberError> {
        let rank = x.shape.count
        func constant(_ i: Int, _ what: String) -> Result<[Int]?, EmberError> {
            guard node.inputs.count > i, node.inputs[i] != nil else { return .success(nil) }
            guard node.constants.count > i, let t = node.constants[i] else {
                return .failure(EmberError(.unsupported, "the \(what) are computed at run time; expected a constant"))
            }
            return .success(t.ints())
        }
        let values: [[Int]?]
        do {
            values = try [(1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")].map { try constant($0.0, $0.1).get() }
        } catch let why as EmberError where why.code == .unsupported {
            return .failure(why)
        } catch {
            return .failure(EmberError(.unsupported, "\(error)"))
        }
        guard let starts = values[0], let ends = values[1] else { return .failure(EmberError(.unsupported, "expected starts and ends")) }
        let axes = values[2] ?? Array(0..<starts.count)
        let steps = values[3] ?? Array(repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            return .failure(EmberError(.unsupported, "starts, ends, axes and steps differ in length"))
        }
        let strides = Tensor.strides(of: x.shape)
        var view = CUDACopyGenerator.View(dims: x.shape, strides: strides, offset: 0)
        var seen: Set<Int> = []
        for i in starts.indices {
            guard rank > 0, let a = Axes.normalized(axes[i], rank: rank), seen.insert(a).inserted, steps[i] != 0 else {
                return .failure(EmberError(.unsupported, "axis \(axes[i]) with step \(steps[i]) is not a valid slice of rank \(rank)"))
            }
            let (dim, step) = (x.shape[a], steps[i])
            var s = starts[i] < 0 ? starts[i] + dim : starts[i]
            var e = ends[i] < 0 ? ends[i] + dim : ends[i]
            let count: Int
            if step > 0 {
                s = min(max(s, 0), dim)
                e = min(max(e, 0), dim)
                count = e > s ? (e - s - 1) / step + 1 : 0
            } else {
                s = min(max(s, 0), dim - 1)
                e = min(max(e, -1), dim - 1)
                count = s > e ? 1 - (s - e - 1) / step : 0
            }
            view.dims[a] = count
            view.strides[a] = strides[a] * step
            if count > 0 { view.offset += s * strides[a] }
        }
        return .success(view)
    }

    /// The input broadcast to the output's shape: stride 0 along the dims it repeats.
    static func expandView(_ x: CUDATensorType, _ y: CUDATensorType) -> Result<CUDACopyGenerator.View, EmberError> {
        guard x.shape.count <= y.shape.count else {
            return .failure(EmberError(.unsupported, "X \(x) has a higher rank than the output \(y)"))
        }
        let pad = y.shape.count - x.shape.count
        let own = Tensor.strides(of: x.shape)
        var strides = Array(repeating: 0, count: y.shape.count)
        for d in x.shape.indices {
            guard x.shape[d] == y.shape[pad + d] || x.shape[d] == 1 else {
                return .failure(EmberError(.unsupported, "X \(x) does not broadcast to \(y.shape)"))
            }
            strides[pad + d] = x.shape[d] == 1 ? 0 : own[d]
        }
        return .success(.init(dims: y.shape, strides: strides, offset: 0))
    }

    static func concat(_ op: Concat, _ node: CUDANode, _ y: CUDATensorType, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        let parts = node.inputs.compactMap { $0 }
        guard parts.count == node.inputs.count, let first = parts.first else {
            return .failure(EmberError(.unsupported, "concat has an absent input"))
        }
        let rank = first.shape.count
        guard rank > 0, let a = Axes.normalized(op.axis, rank: rank) else {
            return .failure(EmberError(.unsupported, "axis \(op.axis) is out of range for rank \(rank)"))
        }
        var shape = first.shape
        shape[a] = parts.reduce(0) { $0 + ($1.shape.count == rank ? $1.shape[a] : 0) }
        for p in parts where p.dtype != first.dtype || p.shape.count != rank
            || (0..<rank).contains(where: { $0 != a && p.shape[$0] != first.shape[$0] })
        {
            return .failure(EmberError(.unsupported, "input \(p) does not join \(first) along axis \(a)"))
        }
        guard y.shape == shape, y.dtype == first.dtype else {
            return .failure(EmberError(.unsupported, "the output \(y) is not \(first.dtype)\(shape)"))
        }
        let inner = first.shape[(a + 1)...].reduce(1, *)
        return .success(.generated(CUDACopyGenerator.concat(
            outer: first.shape[..<a].reduce(1, *), runs: parts.map { $0.shape[a] * inner }, bytes: first.dtype.byteSize,
            multiprocessors: multiprocessors)))
    }

    static func gather(_ op: Gather, _ node: CUDANode, _ y: CUDATensorType, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        let data: CUDATensorType, indices: CUDATensorType
        switch dataAndIndices(node) {
        case .success(let pair): (data, indices) = pair
        case .failure(let why): return .failure(why)
        }
        let rank = data.shape.count
        guard rank > 0, let a = Axes.normalized(op.axis, rank: rank) else {
            return .failure(EmberError(.unsupported, "axis \(op.axis) is out of range for rank \(rank)"))
        }
        let shape = Array(data.shape[..<a]) + indices.shape + Array(data.shape[(a + 1)...])
        guard y.shape == shape, y.dtype == data.dtype else {
            return .failure(EmberError(.unsupported, "the output \(y) is not \(data.dtype)\(shape)"))
        }
        return .success(.generated(CUDACopyGenerator.gather(
            outer: data.shape[..<a].reduce(1, *), size: data.shape[a], inner: data.shape[(a + 1)...].reduce(1, *),
            picks: indices.count, bytes: data.dtype.byteSize, indexType: CUDAPrelude.storage(indices.dtype),
            multiprocessors: multiprocessors)))
    }

    static func gatherElements(_ op: GatherElements, _ node: CUDANode, _ y: CUDATensorType, multiprocessors: Int) -> Result<CUDAKernelPlan, EmberError> {
        let data: CUDATensorType, indices: CUDATensorType
        switch dataAndIndices(node) {
        case .success(let pair): (data, indices) = pair
        case .failure(let why): return .failure(why)
        }
        let rank = data.shape.count
        guard rank > 0, indices.shape.count == rank, let a = Axes.normalized(op.axis, rank: rank) else {
            return .failure(EmberError(.unsupported, "axis \(op.axis) and indices \(indices) do not fit data \(data)"))
        }
        guard zip(indices.shape, data.shape).enumerated().allSatisfy({ $0.offset == a || $0.element.0 <= $0.element.1 }),
            y.shape == indices.shape, y.dtype == data.dtype
        else {
            return .failure(EmberError(.unsupported, "the output \(y) is not \(data.dtype)\(indices.shape)"))
        }
        return .success(.generated(CUDACopyGenerator.gatherElements(
            data: data.shape, indices: indices.shape, axis: a, bytes: data.dtype.byteSize,
            indexType: CUDAPrelude.storage(indices.dtype), multiprocessors: multiprocessors)))
    }

    /// A gather's data and its i64 or i32 indices.
    private static func dataAndIndices(_ node: CUDANode) -> Result<(CUDATensorType, CUDATensorType), EmberError> {
        guard node.inputs.count == 2, let data = node.inputs[0], let indices = node.inputs[1] else {
            return .failure(EmberError(.unsupported, "expected data and indices"))
        }
        guard indices.dtype == .i64 || indices.dtype == .i32 else {
            return .failure(EmberError(.unsupported, "indices are \(indices.dtype); expected i64 or i32"))
        }
        return .success((data, indices))
    }
}
