import EmberIR
import EmberOps

extension TorchOps {
    static let dataMovement: [String: TorchConverter] = dictionary([
        all(["aten.view.default", "aten.reshape.default", "aten._unsafe_view.default", "aten.view_copy.default"], { ctx in
            let x = try ctx.tensor("self")
            let sizes = try ctx.symInts(ctx.has("size") ? "size" : "shape")
            try ctx.emitFinal("reshape", [x, try ctx.reshapeTarget(x, sizes)])
        }),
        all(["aten.flatten.using_ints", "aten.unflatten.int", "aten.view_as.default", "aten.reshape_as.default"], { ctx in
            let x = try ctx.tensor("self")
            try ctx.emitFinal("reshape", [x, try ctx.reshapeTarget(x, try ctx.declaredSizes())])
        }),
        all(["aten.permute.default", "aten.permute_copy.default"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let perm = try ctx.ints("dims").map { try ctx.axis($0, rank: rank) }
            try ctx.emitFinal("transpose", [x], [("perm", .ints(perm))])
        }),
        all(["aten.transpose.int", "aten.swapaxes.default"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            var perm = Array(0..<rank)
            let a = try ctx.axis(try ctx.int(ctx.has("dim0") ? "dim0" : "axis0"), rank: rank)
            let b = try ctx.axis(try ctx.int(ctx.has("dim1") ? "dim1" : "axis1"), rank: rank)
            perm.swapAt(a, b)
            try ctx.emitFinal("transpose", [x], [("perm", .ints(perm))])
        }),
        all(["aten.t.default", "aten.numpy_T.default"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            guard rank >= 2 else { return ctx.alias(x) }
            try ctx.emitFinal("transpose", [x], [("perm", .ints(Array((0..<rank).reversed())))])
        }),
        all(["aten.expand.default", "aten.expand_copy.default"], { ctx in
            let x = try ctx.tensor("self")
            try ctx.expand(x, try ctx.symInts("size"))
        }),
        all(["aten.expand_as.default"], { ctx in
            try ctx.expand(try ctx.tensor("self"), try ctx.declaredSizes())
        }),
        all(["aten.slice.Tensor", "aten.slice_copy.Tensor"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let dim = try ctx.axis(try ctx.int("dim", default: 0), rank: rank)
            let start = ctx.has("start") ? try ctx.symInt("start") : SymValue(dim: .known(0))
            let end = ctx.has("end") ? try ctx.symInt("end") : SymValue(dim: .known(Int.max))
            let step = try ctx.int("step", default: 1)
            if start.known == 0, end.known.map({ $0 >= Int(Int32.max) }) == true, step == 1 { return ctx.alias(x) }
            if start.known == 0, step == 1, let e = end.known, let size = ctx.type(x).shape?[dim].value, e >= size {
                return ctx.alias(x)
            }
            try ctx.emitFinal("slice", [x, try ctx.materialize(start), try ctx.materialize(end), ctx.ints([dim]), ctx.ints([step])])
        }),
        all(["aten.narrow.default"], { ctx in
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x))
            let start = try ctx.int("start")
            let length = try ctx.int("length")
            try ctx.emitFinal("slice", [x, ctx.ints([start]), ctx.ints([start + length]), ctx.ints([dim])])
        }),
        all(["aten.select.int", "aten.select_copy.int"], { ctx in
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x))
            let index = try ctx.symInt("index")
            let i = try index.known.map { ctx.constant(Tensor(shape: [], int64s: [Int64($0)])) }
                ?? ctx.emit1("reshape", [try ctx.materialize(index), ctx.ints([])])
            try ctx.emitFinal("gather", [x, i], [("axis", .int(dim))])
        }),
        all(["aten.cat.default", "aten.concat.default", "aten.concatenate.default"], { ctx in
            var parts = try ctx.tensors("tensors")
            let dtype = try ctx.outputType()?.dtype ?? ctx.type(parts[0]).dtype
            // torch skips 1-D empty tensors in cat (legacy behaviour).
            parts = try parts.filter { ctx.type($0).shape != [.known(0)] }.map { try ctx.cast($0, dtype) }
            let rank = try ctx.rank(parts[0])
            try ctx.emitFinal("concat", parts, [("axis", .int(try ctx.axis(try ctx.int("dim", default: 0), rank: rank)))])
        }),
        all(["aten.stack.default"], { ctx in
            let parts = try ctx.tensors("tensors")
            let rank = try ctx.rank(parts[0]) + 1
            let dim = try ctx.axis(try ctx.int("dim", default: 0), rank: rank)
            let axes = ctx.ints([dim])
            let expanded = try parts.map { try ctx.emit1("unsqueeze", [$0, axes]) }
            try ctx.emitFinal("concat", expanded, [("axis", .int(dim))])
        }),
        all(["aten.split.Tensor", "aten.split_with_sizes.default", "aten.chunk.default", "aten.unsafe_split.Tensor",
             "aten.split_with_sizes_copy.default", "aten.tensor_split.sections"], split),
        all(["aten.unbind.int"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let dim = try ctx.axis(try ctx.int("dim", default: 0), rank: rank)
            guard let size = ctx.type(x).shape?[dim].value else { throw ctx.fail("needs the unbound dim known at import", .unsupported) }
            let pieces = try ctx.emit("split", [x, ctx.ints([Int](repeating: 1, count: size))], [("axis", .int(dim))], outputs: size)
            let axes = ctx.ints([dim])
            let squeezed = try pieces.map { try ctx.emit1("squeeze", [$0, axes]) }
            ctx.bind(squeezed)
        }),
        all(["aten.unsqueeze.default", "aten.unsqueeze_copy.default"], { ctx in
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x) + 1)
            try ctx.emitFinal("unsqueeze", [x, ctx.ints([dim])])
        }),
        all(["aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default", "aten.squeeze_copy.dim", "aten.squeeze_copy.dims"], { ctx in
            let x = try ctx.tensor("self")
            let shape = ctx.type(x).shape ?? []
            let rank = shape.count
            let dims = ctx.has("dim") ? try ctx.ints("dim").map { try ctx.axis($0, rank: rank) } : Array(0..<rank)
            // torch leaves dims that are not 1 alone; ONNX would refuse them.
            let axes = dims.filter { shape[$0] == .known(1) }
            guard !axes.isEmpty else { return ctx.alias(x) }
            try ctx.emitFinal("squeeze", [x, ctx.ints(axes)])
        }),
        all(["aten.contiguous.default", "aten.clone.default", "aten.alias.default", "aten.detach.default",
             "aten.lift_fresh_copy.default", "aten.lift_fresh.default", "aten.dropout.default", "aten.feature_dropout.default",
             "aten.alpha_dropout.default", "aten.native_dropout.default", "aten.alias_copy.default", "aten.detach_copy.default",
             "aten.positive.default", "aten.resolve_conj.default", "aten.resolve_neg.default"], { ctx in
            let x = try ctx.tensor(ctx.has("self") ? "self" : "input")
            if ctx.target == "aten.native_dropout.default", try ctx.bool("train", default: false) {
                throw ctx.fail("dropout in training mode is not supported", .unsupported)
            }
            ctx.alias(x)
        }),
        all(["aten._to_copy.default", "aten.to.dtype", "aten.to.dtype_layout", "aten.to.device", "aten.to.other",
             "aten.type_as.default", "aten._to_dim_order_copy.default"], { ctx in
            let x = try ctx.tensor("self")
            let dtype = try ctx.outputType()?.dtype ?? ctx.dtype("dtype") ?? ctx.type(x).dtype
            guard dtype != ctx.type(x).dtype else { return ctx.alias(x) }
            try ctx.emitFinal("cast", [x], [("to", .dtype(dtype))])
        }),
        all(["aten.embedding.default"], { ctx in
            try ctx.emitFinal("gather", [try ctx.tensor("weight"), try ctx.tensor("indices")], [("axis", .int(0))])
        }),
        all(["aten.index_select.default"], { ctx in
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x))
            try ctx.emitFinal("gather", [x, try ctx.tensor("index")], [("axis", .int(dim))])
        }),
        all(["aten.gather.default"], { ctx in
            let x = try ctx.tensor("self")
            let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x))
            try ctx.emitFinal("gather_elements", [x, try ctx.tensor("index")], [("axis", .int(dim))])
        }),
        all(["aten.index.Tensor"], index),
        all(["aten.index_put.default"], indexPut),
        // src written into self: src broadcast to self's shape, in self's dtype.
        all(["aten.copy.default"], { ctx in
            let x = try ctx.tensor("self")
            let src = try ctx.cast(try ctx.tensor("src"), ctx.type(x).dtype)
            if ctx.type(src).shape == ctx.type(x).shape, ctx.type(x).knownShape != nil { return try ctx.emitFinal("identity", [src]) }
            try ctx.emitFinal("expand", [src, try ctx.emit1("shape", [x])])
        }),
        all(["aten.constant_pad_nd.default", "aten.pad.default"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let mode = try ctx.string("mode", default: "constant")
            guard ["constant", "reflect", "replicate", "circular"].contains(mode) else {
                throw ctx.fail("padding mode '\(mode)' is not supported", .unsupported)
            }
            let pad = try ctx.ints("pad")
            guard pad.count % 2 == 0, pad.count / 2 <= rank else { throw ctx.fail("pad \(pad) does not fit rank \(rank)") }
            // torch lists (begin, end) pairs from the last dim backwards; ONNX all begins, then all ends.
            var begins = [Int](repeating: 0, count: rank)
            var ends = [Int](repeating: 0, count: rank)
            for i in 0..<(pad.count / 2) {
                begins[rank - 1 - i] = pad[2 * i]
                ends[rank - 1 - i] = pad[2 * i + 1]
            }
            let value = try ctx.number("value") ?? 0
            let onnxMode = ["replicate": "edge", "circular": "wrap"][mode] ?? mode
            try ctx.emitFinal(
                "pad", [x, ctx.ints(begins + ends), ctx.scalar(value, ctx.type(x).dtype)], [("mode", .string(onnxMode))])
        }),
        all(["aten.roll.default"], { ctx in
            let x = try ctx.tensor("self")
            let shape = ctx.type(x).shape ?? []
            let shifts = try ctx.ints("shifts")
            let dims = try ctx.ints("dims", default: [])
            guard !dims.isEmpty, dims.count == shifts.count else {
                throw ctx.fail("roll without dims (over the flattened tensor) is not supported", .unsupported)
            }
            var y = x
            for (shift, d) in zip(shifts, dims) {
                let axis = try ctx.axis(d, rank: shape.count)
                guard let size = shape[axis].value else { throw ctx.fail("needs the rolled dim known at import", .unsupported) }
                let s = ((shift % max(size, 1)) + size) % max(size, 1)
                guard s != 0 else { continue }
                // roll by s: the last s elements come first.
                let tail = try ctx.emit1("slice", [y, ctx.ints([size - s]), ctx.ints([size]), ctx.ints([axis])])
                let head = try ctx.emit1("slice", [y, ctx.ints([0]), ctx.ints([size - s]), ctx.ints([axis])])
                y = try ctx.emit1("concat", [tail, head], [("axis", .int(axis))])
            }
            try ctx.emitFinal("identity", [y])
        }),
        all(["aten.repeat.default"], { ctx in
            var x = try ctx.tensor("self")
            let repeats = try ctx.ints("repeats")
            let rank = try ctx.rank(x)
            if repeats.count > rank {
                x = try ctx.emit1("unsqueeze", [x, ctx.ints(Array(0..<(repeats.count - rank)))])
            }
            try ctx.emitFinal("tile", [x, ctx.ints(repeats)])
        }),
        all(["aten.tile.default"], { ctx in
            // tile pads the repeats with leading ones to the input's rank; repeat then applies.
            let x = try ctx.tensor("self")
            var repeats = try ctx.ints("dims")
            let rank = try ctx.rank(x)
            if repeats.count < rank { repeats = [Int](repeating: 1, count: rank - repeats.count) + repeats }
            try ctx.emitFinal("tile", [x, ctx.ints(repeats)])
        }),
        all(["aten.flip.default"], { ctx in
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let dims = try ctx.ints("dims").map { try ctx.axis($0, rank: rank) }
            guard !dims.isEmpty else { return ctx.alias(x) }
            // From the last element back past the first: ONNX's INT64_MIN end with a negative step.
            let n = dims.count
            try ctx.emitFinal(
                "slice", [x, ctx.ints([Int](repeating: -1, count: n)), ctx.ints([Int](repeating: Int(Int64.min), count: n)),
                          ctx.ints(dims), ctx.ints([Int](repeating: -1, count: n))])
        }),
        // torch orders the channels of a block channel first, as the CRD mode does.
        all(["aten.pixel_shuffle.default"], { ctx in
            try ctx.blocks("depth_to_space", try ctx.int("upscale_factor"))
        }),
        all(["aten.pixel_unshuffle.default"], { ctx in
            try ctx.blocks("space_to_depth", try ctx.int("downscale_factor"))
        }),
        all(["aten.channel_shuffle.default", "aten.native_channel_shuffle.default"], { ctx in
            // [N, C, ...] as [N, g, C/g, rest], the two group dims swapped, then back.
            let x = try ctx.tensor("self")
            let groups = try ctx.int("groups")
            guard let channels = ctx.type(x).shape?.dropFirst().first?.value else {
                throw ctx.fail("needs the input's channel count known at import", .unsupported)
            }
            guard groups > 0, channels % groups == 0 else {
                throw ctx.fail("groups \(groups) does not divide \(channels) channels", .invalidArgument)
            }
            let grouped = try ctx.emit1("reshape", [x, ctx.ints([0, groups, channels / groups, -1])])
            let swapped = try ctx.emit1("transpose", [grouped], [("perm", .ints([0, 2, 1, 3]))])
            try ctx.emitFinal("reshape", [swapped, try ctx.emit1("shape", [x])])
        }),
        all(["aten.scatter.src", "aten.scatter.value", "aten.scatter_add.default", "aten.scatter.reduce",
             "aten.scatter.value_reduce", "aten.scatter_reduce.two"], scatter),
        all(["aten.one_hot.default"], { ctx in
            let x = try ctx.tensor("self")
            let classes = try ctx.int("num_classes", default: -1)
            guard classes > 0 else { throw ctx.fail("needs num_classes given (the largest index is known only at run time)", .unsupported) }
            try ctx.emitFinal("one_hot", [x, ctx.ints([classes]), ctx.constant(Tensor(shape: [2], int64s: [0, 1]))], [("axis", .int(-1))])
        }),
        all(["aten.tril.default"], trilu(upper: false)),
        all(["aten.triu.default"], trilu(upper: true)),
        all(["aten.upsample_nearest2d.default", "aten.upsample_nearest2d.vec", "aten.upsample_nearest1d.default",
             "aten.upsample_nearest3d.default", "aten.upsample_nearest1d.vec", "aten.upsample_nearest3d.vec"], { ctx in
            try ctx.resize(mode: "nearest", alignCorners: false)
        }),
        all(["aten.upsample_bilinear2d.default", "aten.upsample_bilinear2d.vec", "aten.upsample_linear1d.default",
             "aten.upsample_linear1d.vec", "aten.upsample_trilinear3d.default", "aten.upsample_trilinear3d.vec"], { ctx in
            try ctx.resize(mode: "linear", alignCorners: try ctx.bool("align_corners", default: false))
        }),
        all(["aten.upsample_bicubic2d.default", "aten.upsample_bicubic2d.vec"], { ctx in
            try ctx.resize(mode: "cubic", alignCorners: try ctx.bool("align_corners", default: false))
        }),
        all(["aten._upsample_nearest_exact1d.default", "aten._upsample_nearest_exact1d.vec",
             "aten._upsample_nearest_exact2d.default", "aten._upsample_nearest_exact2d.vec",
             "aten._upsample_nearest_exact3d.default", "aten._upsample_nearest_exact3d.vec"], { ctx in
            try ctx.resize(mode: "nearest", alignCorners: false, exact: true)
        }),
        all(["aten.slice_scatter.default"], sliceScatter),
        // Only the form decompositions leave: the input's own shape with row-major strides, which
        // is the input itself. Anything else reads memory layouts Ember does not model.
        all(["aten.as_strided.default", "aten.as_strided_copy.default"], { ctx in
            let x = try ctx.tensor("self")
            let sizes = try ctx.symInts("size")
            let strides = try ctx.ints("stride")
            let offset = try ctx.int("storage_offset", default: 0)
            let input = ctx.type(x).shape ?? []
            var expected = 1
            var rowMajor = true
            for (size, stride) in zip(sizes, strides).reversed() {
                if size.known == 1 { continue }
                if stride != expected { rowMajor = false }
                guard let k = size.known else {
                    expected = -1
                    continue
                }
                expected = expected < 0 ? -1 : expected * k
            }
            guard offset == 0, rowMajor, sizes.count == input.count, zip(sizes, input).allSatisfy({ $0.dim == $1 }) else {
                throw ctx.fail("only the identity form (the input's shape, row-major strides) is supported", .unsupported)
            }
            ctx.alias(x)
        }),
        all(["aten.select_scatter.default"], { ctx in
            // As a slice of length 1 along dim, with src unsqueezed.
            let x = try ctx.tensor("self")
            let rank = try ctx.rank(x)
            let dim = try ctx.axis(try ctx.int("dim"), rank: rank)
            var index = try ctx.int("index")
            if index < 0, let size = ctx.type(x).shape?[dim].value { index += size }
            let src = try ctx.emit1("unsqueeze", [try ctx.tensor("src"), ctx.ints([dim])])
            try ctx.scatterSlice(x, src, dim: dim, start: index, step: 1)
        }),
    ])

    private static func split(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("self")
        let rank = try ctx.rank(x)
        let dim = try ctx.axis(try ctx.int("dim", default: 0), rank: rank)
        let size = ctx.type(x).shape?[dim].value
        var sizes: [Int]
        if ctx.has("split_sizes") {
            sizes = try ctx.ints("split_sizes")
        } else {
            guard let size else { throw ctx.fail("needs the split dim known at import", .unsupported) }
            let piece: Int
            if ctx.has("chunks") {
                let chunks = max(try ctx.int("chunks"), 1)
                piece = (size + chunks - 1) / chunks
            } else if ctx.has("sections") {
                let sections = max(try ctx.int("sections"), 1)
                piece = (size + sections - 1) / sections
            } else {
                piece = try ctx.int("split_size")
            }
            guard piece > 0 else { throw ctx.fail("split size must be positive", .invalidArgument) }
            sizes = stride(from: 0, to: size, by: piece).map { min(piece, size - $0) }
        }
        let expected = ctx.outputNames.count
        guard sizes.count == expected || expected == 0 else {
            throw ctx.fail("splits into \(sizes.count) pieces but torch declares \(expected) outputs")
        }
        try ctx.emitFinal("split", [x, ctx.ints(sizes)], [("axis", .int(dim))], outputs: sizes.count)
    }

    /// Advanced indexing: one index tensor (a gather on its dim), or several (broadcast against each
    /// other, then a gather_nd on the indexed dims moved to the front). As in torch, the indexed dims'
    /// result takes their place when they are adjacent, else it comes first.
    private static func index(_ ctx: inout TorchNodeContext) throws {
        var x = try ctx.tensor("self")
        let indices = try ctx.optionalTensors("indices")
        let given = indices.enumerated().compactMap { i, v in v.map { (i, $0) } }
        guard !given.isEmpty else { throw ctx.fail("expected at least one index tensor", .invalidArgument) }
        if given.contains(where: { ctx.type($0.1).dtype == .bool }) {
            throw ctx.fail("boolean mask indexing is not supported", .unsupported)
        }
        if given.count == 1 {
            let (axis, idx) = given[0]
            return try ctx.emitFinal("gather", [x, try ctx.cast(idx, .i64)], [("axis", .int(axis))])
        }
        let rank = try ctx.rank(x)
        let axes = given.map(\.0)
        let rest = (0..<rank).filter { !axes.contains($0) }
        if axes != Array(0..<axes.count) {
            x = try ctx.emit1("transpose", [x], [("perm", .ints(axes + rest))])
        }
        let (combined, _) = try ctx.stackedIndices(given.map(\.1))
        let first = axes[0]
        let adjacent = axes == Array(first..<(first + axes.count))
        guard adjacent, first > 0 else { return try ctx.emitFinal("gather_nd", [x, combined]) }
        // gather_nd leaves [broadcast..., dims before, dims after]; the broadcast dims go back in place.
        let gathered = try ctx.emit1("gather_nd", [x, combined])
        let b = try ctx.rank(combined) - 1  // the broadcast rank
        let perm = Array(b..<(b + first)) + Array(0..<b) + Array((b + first)..<(b + rest.count))
        try ctx.emitFinal("transpose", [gathered], [("perm", .ints(perm))])
    }

    /// `scatter` and `scatter_add`: src (or a scalar value) written at index along dim. torch reads
    /// only src's leading index-shaped block, so a larger src is cut to the index's shape first.
    private static func scatter(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("self")
        let dim = try ctx.axis(try ctx.int("dim"), rank: try ctx.rank(x))
        let index = try ctx.cast(try ctx.tensor("index"), .i64)
        let dtype = ctx.type(x).dtype
        var src: ValueID
        if case .tensor? = ctx.arg("src") {
            src = try ctx.cast(try ctx.tensor("src"), dtype)
            if ctx.type(src).shape != ctx.type(index).shape {
                guard let shape = ctx.type(index).knownShape else {
                    throw ctx.fail("needs the index shape known at import when src is larger", .unsupported)
                }
                let rank = shape.count
                src = try ctx.emit1("slice", [src, ctx.ints([Int](repeating: 0, count: rank)), ctx.ints(shape), ctx.ints(Array(0..<rank))])
            }
        } else {
            guard let value = try ctx.number("value") else { throw ctx.fail("argument 'value' expected a number") }
            src = try ctx.emit1("expand", [ctx.scalar(value, dtype), try ctx.emit1("shape", [index])])
        }
        var reduction = ctx.target == "aten.scatter_add.default" ? "add" : "none"
        if ctx.has("reduce") {
            // scatter's reduce names, then scatter_reduce's.
            switch try ctx.string("reduce", default: "") {
            case "add", "sum": reduction = "add"
            case "multiply", "prod": reduction = "mul"
            case "amax": reduction = "max"
            case "amin": reduction = "min"
            case let other: throw ctx.fail("reduce '\(other)' is not supported", .unsupported)
            }
            guard try ctx.bool("include_self", default: true) else {
                throw ctx.fail("include_self = False is not supported", .unsupported)
            }
        }
        try ctx.emitFinal("scatter_elements", [x, index, src], [("axis", .int(dim)), ("reduction", .string(reduction))])
    }

    /// `self[indices] = values` (or `+=` with `accumulate`): a scatter_nd for index tensors on the
    /// leading dims, values broadcast to the indexed slices; a where for one boolean mask with a
    /// single value (`x[x > 0] = 0`).
    private static func indexPut(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("self")
        let dtype = ctx.type(x).dtype
        let values = try ctx.cast(try ctx.tensor("values"), dtype)
        let accumulate = try ctx.bool("accumulate", default: false)
        let indices = try ctx.optionalTensors("indices")
        let given = indices.enumerated().compactMap { i, v in v.map { (i, $0) } }
        guard !given.isEmpty, given.map(\.0) == Array(0..<given.count) else {
            throw ctx.fail("index tensors must be on the leading dims", .unsupported)
        }
        let rank = try ctx.rank(x)
        if given.count == 1, ctx.type(given[0].1).dtype == .bool {
            let mask = given[0].1
            guard !accumulate, Tensor.elementCount(ctx.type(values).knownShape ?? [0]) == 1 else {
                throw ctx.fail("a boolean mask index is supported with one value and no accumulate", .unsupported)
            }
            let maskRank = try ctx.rank(mask)
            let m = maskRank < rank ? try ctx.emit1("unsqueeze", [mask, ctx.ints(Array(maskRank..<rank))]) : mask
            let v = try ctx.emit1("reshape", [values, ctx.ints([])])
            return try ctx.emitFinal("where", [m, v, x])
        }
        guard !given.contains(where: { ctx.type($0.1).dtype == .bool }) else {
            throw ctx.fail("boolean masks mixed with other indices are not supported", .unsupported)
        }
        let (combined, shape) = try ctx.stackedIndices(given.map(\.1))
        // The updates: one slice x[i, ...] per index tuple.
        let slices = try ctx.emit1("shape", [x], [("start", .int(given.count))])
        let updatesShape = try ctx.emit1("concat", [shape, slices], [("axis", .int(0))])
        let updates = try ctx.emit1("expand", [values, updatesShape])
        try ctx.emitFinal("scatter_nd", [x, combined, updates], [("reduction", .string(accumulate ? "add" : "none"))])
    }

    private static func trilu(upper: Bool) -> TorchConverter {
        { ctx in
            let k = try ctx.int("diagonal", default: 0)
            try ctx.emitFinal(
                "trilu", [try ctx.tensor("self"), ctx.constant(Tensor(shape: [], int64s: [Int64(k)]))],
                [("upper", .int(upper ? 1 : 0))])
        }
    }

    private static func sliceScatter(_ ctx: inout TorchNodeContext) throws {
        let x = try ctx.tensor("self")
        let rank = try ctx.rank(x)
        let dim = try ctx.axis(try ctx.int("dim", default: 0), rank: rank)
        var start = try ctx.optionalInt("start") ?? 0
        if start < 0, let size = ctx.type(x).shape?[dim].value { start += size }
        try ctx.scatterSlice(x, try ctx.tensor("src"), dim: dim, start: start, step: try ctx.int("step", default: 1))
    }
}

extension TorchNodeContext {
    /// Index tensors broadcast to one shape and stacked along a new last axis, the index tuples
    /// `gather_nd` and `scatter_nd` take; `shape` is the broadcast shape.
    mutating func stackedIndices(_ indices: [ValueID]) throws -> (combined: ValueID, shape: ValueID) {
        let ids = try indices.map { try cast($0, .i64) }
        // The broadcast shape of all indices: the shape of their sum.
        var total = ids[0]
        for id in ids.dropFirst() { total = try emit1("add", [total, id]) }
        let shape = try emit1("shape", [total])
        let last = try rank(total)
        let stacked = try ids.map { id in
            try emit1("unsqueeze", [try emit1("expand", [id, shape]), ints([last])])
        }
        return (try emit1("concat", stacked, [("axis", .int(last))]), shape)
    }

    /// `expand` with torch's sizes: -1 keeps a dim; a symbolic size the input already has is kept
    /// by writing 1 (ONNX broadcasts both ways), others are computed at run time.
    mutating func expand(_ x: ValueID, _ sizes: [SymValue]) throws {
        let input = type(x).shape ?? []
        let offset = sizes.count - input.count
        var target: [SymValue] = []
        for (i, s) in sizes.enumerated() {
            let j = i - offset
            if s.known == -1 {
                target.append(SymValue(dim: .known(1)))
            } else if s.known == nil, j >= 0, input[j] == s.dim {
                target.append(SymValue(dim: .known(1)))
            } else {
                target.append(s)
            }
        }
        if target.allSatisfy({ $0.known == 1 }), offset == 0 { return alias(x) }
        try emitFinal("expand", [x, try shapeVector(target)])
    }

    /// Writes `src` into `x` at `start, start + step, ...` along `dim`: a scatter whose indices
    /// are computed here from src's shape, which must be known.
    mutating func scatterSlice(_ x: ValueID, _ src: ValueID, dim: Int, start: Int, step: Int) throws {
        guard let shape = type(src).knownShape else {
            throw fail("needs the source's shape known at import", .unsupported)
        }
        let count = Tensor.elementCount(shape) ?? 0
        let strides = Tensor.strides(of: shape)
        let indices = (0..<count).map { i in Int64(start + (i / strides[dim]) % shape[dim] * step) }
        let index = constant(Tensor(shape: shape, int64s: indices))
        try emitFinal("scatter_elements", [x, index, try cast(src, type(x).dtype)], [("axis", .int(dim))])
    }

    /// `upsample_*`: sizes from torch's output where known, else from the scale factors.
    /// `exact` is torch's nearest-exact: the nearest source pixel centre, as half-pixel
    /// coordinates rounded half up give.
    mutating func resize(mode: String, alignCorners: Bool, exact: Bool = false) throws {
        let x = try tensor(has("self") ? "self" : "input")
        var attributes: [(String, Attribute)] = [("mode", .string(mode))]
        if mode == "nearest", exact {
            attributes += [("coordinate_transformation_mode", .string("half_pixel")), ("nearest_mode", .string("round_prefer_ceil"))]
        } else if mode == "nearest" {
            attributes += [("coordinate_transformation_mode", .string("asymmetric")), ("nearest_mode", .string("floor"))]
        } else {
            attributes.append(("coordinate_transformation_mode", .string(alignCorners ? "align_corners" : "pytorch_half_pixel")))
        }
        let rank = try rank(x)
        if let scales = (try? optionalFloats("scales_h", "scales_w", "scale_factors")) ?? nil, scales.count == rank - 2 {
            let all = [1, 1] + scales
            return try emitFinal("resize", [x, nil, constant(Tensor(.f32, shape: [rank], doubles: all))], attributes)
        }
        if let out = outputType()?.shape, out.count == rank, out.dropFirst(2).allSatisfy({ $0.value != nil }) {
            let spatial = out.dropFirst(2).compactMap(\.value)
            let sizes = try emit1("concat", [try emit1("shape", [x], [("end", .int(2))]), ints(spatial)], [("axis", .int(0))])
            return try emitFinal("resize", [x, nil, nil, sizes], attributes)
        }
        throw fail("needs the output size known at import", .unsupported)
    }

    /// Scale factors from `scale_factors` (a list) or from both `scales_h` and `scales_w`.
    func optionalFloats(_ h: String, _ w: String, _ list: String) throws -> [Double]? {
        if case .floats(let v)? = arg(list) { return v }
        if let a = try optionalFloat(h), let b = try optionalFloat(w), !has("output_size") { return [a, b] }
        return nil
    }
}

extension TorchNodeContext {
    /// `pixel_shuffle` / `pixel_unshuffle` as `depth_to_space` / `space_to_depth` in CRD order;
    /// leading dims beyond the batch are folded into it and restored after.
    mutating func blocks(_ name: String, _ factor: Int) throws {
        let x = try tensor("self")
        let rank = try rank(x)
        guard rank >= 3 else { throw fail("expected an input of rank 3 or more, received rank \(rank)", .invalidArgument) }
        let attributes: [(String, Attribute)] = [("blocksize", .int(factor)), ("mode", .string("CRD"))]
        if rank == 4 { return try emitFinal(name, [x], attributes) }
        let image = try emit1("concat", [ints([-1]), try emit1("shape", [x], [("start", .int(-3))])], [("axis", .int(0))])
        let moved = try emit1(name, [try emit1("reshape", [x, image])], attributes)
        let lead = try emit1("shape", [x], [("end", .int(-3))])
        let tail = try emit1("shape", [moved], [("start", .int(1))])
        try emitFinal("reshape", [moved, try emit1("concat", [lead, tail], [("axis", .int(0))])])
    }
}
