import EmberIR
import EmberOps

/// A value that is a strided view of another value's row-major elements: element at coordinates
/// `c` of `shape` is the source's element `offset + sum(c[k] * strides[k])`. Transposes, gathers
/// of one constant index, and the reshapes between them compose into one view, so a chain of
/// them (ViT's attention head split: reshape, 5-D transpose, squeeze, gather, reshape,
/// transpose, reshape) costs one copy, made where something reads the result.
struct CUDAStridedView: Equatable {
    /// One run of a dim: `size` steps of `stride` source elements.
    struct Factor: Equatable {
        var size: Int
        var stride: Int
    }

    var source: ValueID
    /// Each dim as factors, outermost first: a dim merged from others (ViT's `B*H`) keeps the
    /// strides of its parts.
    var dims: [[Factor]]
    var offset: Int

    /// The whole of `source` (of `shape`), row-major.
    init(source: ValueID, shape: [Int]) {
        self.source = source
        let strides = CUDAStridedView.rowMajorStrides(shape)
        dims = zip(shape, strides).map { [Factor(size: $0, stride: $1)] }
        offset = 0
    }

    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for k in stride(from: shape.count - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
        return strides
    }

    var shape: [Int] { dims.map { $0.reduce(1) { $0 * $1.size } } }

    /// Every factor with more than one step, in the order the view's elements are written.
    var factors: [Factor] { dims.flatMap { $0 }.filter { $0.size != 1 } }

    /// Whether the view reads the whole source in order: then it is the source's own bytes.
    var isWholeSource: Bool {
        let walk = factors
        return offset == 0 && walk.indices.allSatisfy { k in walk[k].stride == walk[(k + 1)...].reduce(1) { $0 * $1.size } }
    }

    /// The source element that view element `linear` (row-major) reads.
    func sourceIndex(_ linear: Int) -> Int {
        var r = linear, at = offset
        for f in factors.reversed() {
            at += (r % f.size) * f.stride
            r /= f.size
        }
        return at
    }

    /// The view through `op` (with the constant inputs it needs), or nil when `op` does not
    /// merely pick elements in a way a strided view can say.
    func through(_ op: any Operator, constants: [Tensor?], output: [Int]) -> CUDAStridedView? {
        var view: CUDAStridedView?
        switch op {
        case let transpose as Transpose:
            let perm = transpose.perm ?? Array((0..<dims.count).reversed())
            guard perm.sorted() == Array(0..<dims.count) else { return nil }
            view = self
            view?.dims = perm.map { dims[$0] }
        case let gather as Gather:
            // One constant index, a scalar: the axis is dropped.
            guard constants.count > 1, let index = constants[1], index.shape.isEmpty, let i = index.ints().first else { return nil }
            guard !dims.isEmpty, let axis = Axes.normalized(gather.axis, rank: dims.count) else { return nil }
            let size = shape[axis]
            let position = i < 0 ? i + size : i
            guard (0..<size).contains(position) else { return nil }
            var v = self
            var r = position
            for f in dims[axis].reversed() {
                v.offset += (r % f.size) * f.stride
                r /= f.size
            }
            v.dims.remove(at: axis)
            view = v
        case let op where op.traits.contains(.view):
            view = reshaped(output)
        default:
            return nil
        }
        return view?.shape == output ? view : nil
    }

    /// The elements `start..<start + size` along `axis`, when that dim is one run of steps.
    func part(axis: Int, start: Int, size: Int) -> CUDAStridedView? {
        let runs = dims[axis].filter { $0.size != 1 }
        guard runs.count <= 1, start >= 0, size >= 0, start + size <= shape[axis] else { return nil }
        var view = self
        let step = runs.first?.stride ?? 0
        view.offset += start * step
        view.dims[axis] = [Factor(size: size, stride: step)]
        return view
    }

    /// The same elements in `newShape` (row-major order): the factors regrouped, a factor split
    /// where a new dim ends inside it (possible when the sizes divide).
    func reshaped(_ newShape: [Int]) -> CUDAStridedView? {
        guard newShape.reduce(1, *) == shape.reduce(1, *) else { return nil }
        var walk = factors[...]
        var newDims: [[Factor]] = []
        for size in newShape {
            var taken: [Factor] = []
            var product = 1
            while product < size {
                guard let next = walk.first else { return nil }
                let need = size / product
                guard size % product == 0 else { return nil }
                if next.size <= need {
                    taken.append(next)
                    product *= next.size
                    walk = walk.dropFirst()
                } else {
                    // The dim ends inside this factor: take its outer `need` steps.
                    guard next.size % need == 0 else { return nil }
                    let inner = next.size / need
                    taken.append(Factor(size: need, stride: next.stride * inner))
                    product *= need
                    walk = [Factor(size: inner, stride: next.stride)] + walk.dropFirst()
                }
            }
            guard product == size else { return nil }
            newDims.append(taken.isEmpty ? [Factor(size: 1, stride: 0)] : taken)
        }
        guard walk.isEmpty else { return nil }
        var view = self
        view.dims = newDims
        return view
    }

    /// The copy kernel that writes this view row-major, for elements of `bytes` bytes.
    func copyKernel(bytes: Int, multiprocessors: Int) -> CUDAGeneratedKernel {
        let walk = factors
        let view = CUDACopyGenerator.View(dims: walk.map(\.size), strides: walk.map(\.stride), offset: offset).simplified()
        return CUDACopyGenerator.strided(view, bytes: bytes, multiprocessors: multiprocessors)
    }
}
