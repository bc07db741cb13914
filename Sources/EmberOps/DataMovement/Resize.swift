import EmberIR

/// Resizes along `axes` (default all) by `scales` (input 2) or to `sizes` (input 3), by nearest,
/// linear or cubic interpolation. Each output coordinate maps back to an input coordinate by
/// `coordinate_transformation_mode`; resizing is separable, one axis at a time. `antialias` widens the
/// linear and cubic filters when downsampling (nearest ignores it). Where ONNX Runtime and the ONNX
/// reference disagree (`align_corners` with a fractional `scale * length`), Ember follows ONNX Runtime
/// and PyTorch: lengths are the integer output sizes.
///
///     resize(f32[batch,3,16,16], scales: [1, 1, 2, 2], mode: "linear") -> f32[batch,3,32,32]
public struct Resize: Operator {
    public static let name = "resize"
    public static let inputArity: ClosedRange<Int> = 1...4

    public enum Mode: String, Sendable, CaseIterable { case nearest, linear, cubic }
    public enum CoordinateMode: String, Sendable, CaseIterable {
        case halfPixel = "half_pixel", halfPixelSymmetric = "half_pixel_symmetric"
        case pytorchHalfPixel = "pytorch_half_pixel", alignCorners = "align_corners", asymmetric
        case tfCropAndResize = "tf_crop_and_resize", tfHalfPixelForNN = "tf_half_pixel_for_nn"
    }
    public enum NearestMode: String, Sendable, CaseIterable {
        case roundPreferFloor = "round_prefer_floor", roundPreferCeil = "round_prefer_ceil", floor, ceil
    }
    public enum AspectRatioPolicy: String, Sendable, CaseIterable {
        case stretch, notLarger = "not_larger", notSmaller = "not_smaller"
    }

    public var mode: Mode = .nearest
    public var coordinateMode: CoordinateMode = .halfPixel
    public var nearestMode: NearestMode = .roundPreferFloor
    public var aspectRatioPolicy: AspectRatioPolicy = .stretch
    public var axes: [Int]? = nil
    public var antialias = false
    public var cubicCoeffA = -0.75
    public var excludeOutside = false
    public var extrapolationValue = 0.0

    public init(mode: Mode = .nearest, coordinateMode: CoordinateMode = .halfPixel) {
        self.mode = mode
        self.coordinateMode = coordinateMode
    }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly([
            "antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
            "extrapolation_value", "keep_aspect_ratio_policy", "mode", "nearest_mode",
        ])
        func choice<E: RawRepresentable & CaseIterable>(_ name: String, _ fallback: E) throws -> E
        where E.RawValue == String {
            let text = try attributes.string(name, default: fallback.rawValue)
            guard let v = E(rawValue: text) else {
                let options = E.allCases.map(\.rawValue).joined(separator: ", ")
                throw EmberError(.invalidArgument, "[\(Self.name)] \(name) '\(text)' expected one of \(options)")
            }
            return v
        }
        mode = try choice("mode", Mode.nearest)
        coordinateMode = try choice("coordinate_transformation_mode", CoordinateMode.halfPixel)
        nearestMode = try choice("nearest_mode", NearestMode.roundPreferFloor)
        aspectRatioPolicy = try choice("keep_aspect_ratio_policy", AspectRatioPolicy.stretch)
        axes = try attributes.ints("axes")
        antialias = try attributes.bool("antialias", default: false)
        cubicCoeffA = try attributes.float("cubic_coeff_a", default: -0.75)
        excludeOutside = try attributes.bool("exclude_outside", default: false)
        extrapolationValue = try attributes.float("extrapolation_value", default: 0)
    }

    public var attributes: Attributes {
        var list: [(String, Attribute)] = [
            ("antialias", .int(antialias ? 1 : 0)),
            ("coordinate_transformation_mode", .string(coordinateMode.rawValue)),
            ("cubic_coeff_a", .float(cubicCoeffA)),
            ("exclude_outside", .int(excludeOutside ? 1 : 0)),
            ("extrapolation_value", .float(extrapolationValue)),
            ("keep_aspect_ratio_policy", .string(aspectRatioPolicy.rawValue)),
            ("mode", .string(mode.rawValue)),
            ("nearest_mode", .string(nearestMode.rawValue)),
        ]
        if let axes { list.append(("axes", .ints(axes))) }
        return Attributes(op: Self.name, list)
    }

    /// The resized axes of a tensor of `rank`, in the order given.
    func resizedAxes(rank: Int) throws -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let normalized = try axes.map { (a: Int) in try Axes.normalize(a, rank: rank, op: Self.name) }
        guard Set(normalized).count == normalized.count, normalized.allSatisfy({ $0 < rank }) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] axes \(axes) repeat or are out of range for rank \(rank)")
        }
        return normalized
    }

    /// Whether an optional input is given with at least one element (old models pass empty
    /// tensors for the unused one of `scales` and `sizes`).
    static func given(_ inputs: OpInputs, _ i: Int) -> Bool {
        guard inputs.has(i) else { return false }
        if let c = inputs.constant(i) { return c.count > 0 }
        if let shape = inputs.types[i]?.shape, shape.count == 1, shape[0] == .known(0) { return false }
        return true
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        let (hasScales, hasSizes) = (Self.given(inputs, 2), Self.given(inputs, 3))
        guard hasScales != hasSizes else {
            throw EmberError(.invalidArgument, "[\(Self.name)] expected exactly one of scales and sizes")
        }
        if hasScales { try inputs.type(2).expectDType(DType.floatingPoint, Self.name, input: "scales") }
        if hasSizes { try inputs.type(3).expectDType([.i64], Self.name, input: "sizes") }
        guard var dims = x.shape else {
            return [TensorType(x.dtype, axes == nil ? inputs.vectorLength(hasScales ? 2 : 3).map { [Dim](repeating: .unknown, count: $0) } : nil)]
        }
        let resized = try resizedAxes(rank: dims.count)
        if let scales = hasScales ? inputs.constant(2)?.doubles() : nil {
            try checkCount(scales.count, resized.count, "scales")
            for (i, a) in resized.enumerated() where scales[i] != 1 || dims[a].value == nil {
                guard scales[i] > 0 else {
                    throw EmberError(.invalidArgument, "[\(Self.name)] scale \(scales[i]) expected to be positive")
                }
                if scales[i] == 1 { continue }
                dims[a] = try dims[a].value.map { .known(try Self.scaledSize($0, scales[i])) } ?? .unknown
            }
        } else if let sizes = hasSizes ? inputs.constant(3)?.ints() : nil {
            try checkCount(sizes.count, resized.count, "sizes")
            let known = resized.map { dims[$0].value }
            if aspectRatioPolicy == .stretch || known.allSatisfy({ $0 != nil }) {
                let out = try outputSizes(input: dims.map { $0.value ?? 0 }, axes: resized, sizes: sizes)
                for a in resized { dims[a] = .known(out.sizes[a]) }
            } else {
                for a in resized { dims[a] = .unknown }
            }
        } else {
            for a in resized { dims[a] = .unknown }
        }
        return [TensorType(x.dtype, dims)]
    }

    /// `floor(length * scale)`, computed in f32 (the dtype of `scales`) as ONNX Runtime does, so that
    /// `10 * 0.7` gives 7 and not 6.
    static func scaledSize(_ length: Int, _ scale: Double) throws -> Int {
        let size = (Float(length) * Float(scale)).rounded(.down)
        guard size.isFinite, size < 1e12 else {
            throw EmberError(.invalidArgument, "[\(name)] output size \(size) is too large")
        }
        return Int(size)
    }

    func checkCount(_ n: Int, _ expected: Int, _ what: String) throws {
        guard n == expected else {
            throw EmberError(.invalidArgument, "[\(Self.name)] \(what) has \(n) values, expected \(expected)")
        }
    }

    /// Output sizes and per-axis scales (for the whole rank) from `sizes`, with the aspect ratio policy.
    func outputSizes(input: [Int], axes: [Int], sizes: [Int]) throws -> (sizes: [Int], scales: [Double]) {
        guard sizes.allSatisfy({ $0 >= 0 }) else {
            throw EmberError(.invalidArgument, "[\(Self.name)] sizes \(sizes) has a negative size")
        }
        var out = input
        var scales = [Double](repeating: 1, count: input.count)
        for (i, a) in axes.enumerated() {
            out[a] = sizes[i]
            scales[a] = input[a] == 0 ? 1 : Double(sizes[i]) / Double(input[a])
        }
        guard aspectRatioPolicy != .stretch, !axes.isEmpty else { return (out, scales) }
        let chosen = axes.map { scales[$0] }
        let scale = aspectRatioPolicy == .notLarger ? chosen.min() ?? 1 : chosen.max() ?? 1
        for a in axes {
            scales[a] = scale
            let size = (scale * Double(input[a]) + 0.5).rounded(.down)
            guard size < 1e12 else { throw EmberError(.invalidArgument, "[\(Self.name)] output size \(size) is too large") }
            out[a] = Int(size)
        }
        return (out, scales)
    }

    /// The taps of one output position along an axis: the input indices it reads (clamped to the
    /// axis) and their weights; nearest resizing reads one index with weight 1.
    public struct Taps: Sendable, Equatable {
        public var indices: [Int]
        public var weights: [Double]
    }

    /// How a resize of an input of one shape runs, shared by every backend's kernel: the output's
    /// shape and, for each axis that changes (in increasing order), the taps of every output
    /// position, nil where it takes the extrapolation value. Resizing is separable: the axes are
    /// resized one after the other.
    public struct Plan: Sendable {
        public var outputShape: [Int]
        public var axes: [(axis: Int, taps: [Taps?])]
    }

    /// The plan for an input of `shape` with the `roi`, `scales` and `sizes` inputs (nil or empty
    /// where not given).
    public func plan(_ shape: [Int], roi: Tensor?, scales scalesTensor: Tensor?, sizes sizesTensor: Tensor?) throws -> Plan {
        let rank = shape.count
        let resized = try resizedAxes(rank: rank)
        var outSizes = shape
        var scales = [Double](repeating: 1, count: rank)
        switch (scalesTensor.flatMap { $0.count > 0 ? $0 : nil }, sizesTensor.flatMap { $0.count > 0 ? $0 : nil }) {
        case (let s?, nil):
            let values = s.doubles()
            try checkCount(values.count, resized.count, "scales")
            for (i, a) in resized.enumerated() {
                guard values[i] > 0, values[i].isFinite else {
                    throw EmberError(.invalidArgument, "[\(Self.name)] scale \(values[i]) expected to be positive")
                }
                scales[a] = values[i]
                outSizes[a] = try Self.scaledSize(shape[a], values[i])
            }
        case (nil, let s?):
            let values = try s.indexValues(Self.name, input: "sizes")
            try checkCount(values.count, resized.count, "sizes")
            (outSizes, scales) = try outputSizes(input: shape, axes: resized, sizes: values)
        default:
            throw EmberError(.invalidArgument, "[\(Self.name)] expected exactly one of scales and sizes")
        }
        guard Tensor.elementCount(outSizes) != nil else {
            throw EmberError(.invalidArgument, "[\(Self.name)] output shape \(outSizes) is too large")
        }
        var regions = [(start: Double, end: Double)](repeating: (0, 1), count: rank)
        if coordinateMode == .tfCropAndResize, let r = roi, r.count > 0 {
            let values = r.doubles()
            try checkCount(values.count, 2 * resized.count, "roi")
            for (i, a) in resized.enumerated() { regions[a] = (values[i], values[resized.count + i]) }
        }
        let active = resized.sorted().filter {
            !(scales[$0] == 1 && outSizes[$0] == shape[$0] && regions[$0] == (0, 1))
        }
        for a in active where shape[a] == 0 && outSizes[a] > 0 {
            throw EmberError(.invalidArgument, "[\(Self.name)] cannot resize an empty axis \(a) to \(outSizes[a])")
        }
        return Plan(outputShape: outSizes, axes: active.map { a in
            (a, taps(length: shape[a], size: outSizes[a], scale: scales[a], roi: regions[a]))
        })
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        let plan = try plan(x.shape, roi: inputs.optional(1), scales: inputs.optional(2), sizes: inputs.optional(3))
        if mode == .nearest { return [nearest(x, plan)] }
        var values = x.doubles()
        var shape = x.shape
        for (a, taps) in plan.axes {
            values = interpolate(values, shape: shape, axis: a, taps: taps)
            shape[a] = taps.count
        }
        if x.dtype.isFloatingPoint { return [Tensor(x.dtype, shape: shape, doubles: values)] }
        // Integers truncate toward zero and saturate, as ONNX Runtime does. A result within rounding
        // noise of an integer is that integer, so `-33.9999999` (an exact -34) does not truncate to -33.
        let range = x.dtype.integerRange
        let converted = values.map { v in
            let nearest = v.rounded()
            let snapped = abs(v - nearest) <= 1e-6 * max(1, abs(v)) ? nearest : v.rounded(.towardZero)
            return min(max(snapped, range.low), range.high)
        }
        return [Tensor(x.dtype, shape: shape, doubles: converted)]
    }

    /// The input coordinate that output position `y` maps to, along an axis of `length` resized to `size`.
    func sourceCoordinate(_ y: Int, length: Int, size: Int, scale: Double, roi: (start: Double, end: Double)) -> Double {
        let y = Double(y)
        switch coordinateMode {
        case .halfPixel: return (y + 0.5) / scale - 0.5
        case .halfPixelSymmetric:
            let adjustment = Double(size) / (scale * Double(length))
            let offset = Double(length) / 2 * (1 - adjustment)
            return offset + (y + 0.5) / scale - 0.5
        case .pytorchHalfPixel: return size > 1 ? (y + 0.5) / scale - 0.5 : 0
        case .alignCorners: return size > 1 ? y * Double(length - 1) / Double(size - 1) : 0
        case .asymmetric: return y / scale
        case .tfHalfPixelForNN: return (y + 0.5) / scale
        case .tfCropAndResize:
            let span = Double(length - 1)
            if size > 1 { return roi.start * span + y * (roi.end - roi.start) * span / Double(size - 1) }
            return 0.5 * (roi.start + roi.end) * span
        }
    }

    /// Whether a tf_crop_and_resize coordinate falls outside the input, so the output takes the
    /// extrapolation value.
    func outside(_ x: Double, length: Int) -> Bool {
        coordinateMode == .tfCropAndResize && (x < 0 || x > Double(length - 1))
    }

    /// Nearest-neighbour resize of every active axis at once, as a gather (any dtype).
    func nearest(_ x: Tensor, _ plan: Plan) -> Tensor {
        let strides = Tensor.strides(of: x.shape)
        var tables = x.shape.indices.map { k in IndexMaps.strided(start: 0, step: 1, count: x.shape[k], stride: strides[k]) }
        for (k, taps) in plan.axes {
            tables[k] = taps.map { $0.map { $0.indices[0] * strides[k] } ?? IndexMaps.fill }
        }
        let fill = Tensor(scalar: extrapolationValue, x.dtype)
        return IndexMaps.gatheringWithFill(x, IndexMaps.sums(tables), shape: plan.outputShape, value: fill)
    }

    /// The taps of every output position along an axis of `length` resized to `size`.
    func taps(length n: Int, size: Int, scale: Double, roi: (start: Double, end: Double)) -> [Taps?] {
        (0..<size).map { y in
            let c = sourceCoordinate(y, length: n, size: size, scale: scale, roi: roi)
            if outside(c, length: n) || !c.isFinite { return nil }
            if mode == .nearest {
                let f = c.rounded(.down)
                let i: Double
                switch nearestMode {
                case .roundPreferFloor: i = c - f <= 0.5 ? f : f + 1
                case .roundPreferCeil: i = c - f < 0.5 ? f : f + 1
                case .floor: i = f
                case .ceil: i = c.rounded(.up)
                }
                return Taps(indices: [Int(min(max(i, 0), Double(n - 1)))], weights: [1])
            }
            // Plain linear taps at the borders both clamp to the edge pixel; clamping the coordinate
            // first gives that pixel exactly, as ONNX Runtime does.
            let plainLinear = mode == .linear && !(antialias && scale < 1)
            var (first, weights) = filter(plainLinear ? min(max(c, 0), Double(n - 1)) : c, scale: scale)
            if excludeOutside {
                for t in weights.indices where first + t < 0 || first + t >= n { weights[t] = 0 }
                let total = weights.reduce(0, +)
                if total != 0 { weights = weights.map { $0 / total } }
            }
            return Taps(indices: weights.indices.map { min(max(first + $0, 0), n - 1) }, weights: weights)
        }
    }

    /// The filter at input coordinate `c`: the first input index (before clamping) and the weights.
    func filter(_ c: Double, scale: Double) -> (first: Int, weights: [Double]) {
        // The pixel at or left of `c`, with ratio in (0, 1]: an exact integer counts as ratio 1 from
        // the pixel before, as in the ONNX reference.
        var p = c.rounded(.down)
        var ratio = c - p
        if ratio == 0 {
            p -= 1
            ratio = 1
        }
        let base = Int(p)
        let a = cubicCoeffA
        func cubic(_ t: Double) -> Double {
            let x = abs(t)
            if x <= 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            return 0
        }
        let s = min(scale, 1)
        switch mode {
        case .linear where antialias && s < 1:
            let start = Int((-1 / s).rounded(.down)) + 1
            let count = 2 - 2 * start
            var w = (0..<count).map { i in min(max(1 - abs(Double(start + i) - ratio) * s, 0), 1) }
            let total = w.reduce(0, +)
            if total != 0 { w = w.map { $0 / total } }
            return (base + start, w)
        case .cubic where antialias && s < 1:
            let start = Int((-2 / s).rounded(.down)) + 1
            let count = 2 - 2 * start
            var w = (0..<count).map { i in cubic(s * (Double(start + i) - ratio)) }
            let total = w.reduce(0, +)
            if total != 0 { w = w.map { $0 / total } }
            return (base + start, w)
        case .cubic:
            return (base - 1, [cubic(ratio + 1), cubic(ratio), cubic(1 - ratio), cubic(2 - ratio)])
        default:
            return (base, [1 - ratio, ratio])
        }
    }

    /// Linear or cubic resize of one axis, on values in `Double`.
    func interpolate(_ values: [Double], shape: [Int], axis: Int, taps: [Taps?]) -> [Double] {
        let n = shape[axis], size = taps.count
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        var out = [Double](repeating: 0, count: outer * size * inner)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for o in 0..<outer {
                    for y in 0..<size {
                        let row = (o * size + y) * inner
                        guard let plan = taps[y] else {
                            for i in 0..<inner { dst[row + i] = extrapolationValue }
                            continue
                        }
                        for (index, w) in zip(plan.indices, plan.weights) where w != 0 {
                            let from = (o * n + index) * inner
                            for i in 0..<inner { dst[row + i] += w * src[from + i] }
                        }
                    }
                }
            }
        }
        return out
    }
}

extension DType {
    /// The range of an integer (or bool) type, as doubles, for saturating conversions.
    fileprivate var integerRange: (low: Double, high: Double) {
        switch self {
        case .i8: (-128, 127)
        case .u8: (0, 255)
        case .i16: (-32768, 32767)
        case .u16: (0, 65535)
        case .i32: (-2_147_483_648, 2_147_483_647)
        case .u32: (0, 4_294_967_295)
        case .u64: (0, 18_446_744_073_709_551_616)
        case .bool: (0, 1)
        default: (-9_223_372_036_854_775_808, 9_223_372_036_854_775_808)
        }
    }
}
