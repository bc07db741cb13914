import Dispatch
import Foundation
import EmberIR

/// What a pooling window computes.
enum PoolKind: Sendable, Equatable {
    case max
    case average(countIncludePad: Bool)
    case lp(p: Int)
}

/// The pooling loops shared by `max_pool`, `average_pool` and `lp_pool`, over `[N, C, spatial...]`.
enum Pooling {
    /// The pooled values `[N, C, out...]` as doubles, and for max pooling the flat input index
    /// of each maximum (row-major, or column-major over the spatial axes when `columnMajor`).
    static func run(
        _ x: Tensor, geometry g: WindowGeometry, kind: PoolKind, wantIndices: Bool = false, columnMajor: Bool = false
    ) -> (values: [Double], indices: [Int64]) {
        if g.input.count <= 2 { return run2D(x, geometry: g, kind: kind, wantIndices: wantIndices, columnMajor: columnMajor) }
        let planes = x.shape[0] * x.shape[1]
        let spatial = g.input.count
        let (inCount, outCount, taps) = (g.inputCount, g.outputCount, g.kernelCount)
        let values = x.doubles()
        var out = [Double](repeating: 0, count: planes * outCount)
        var indices = [Int64](repeating: 0, count: wantIndices ? planes * outCount : 0)
        if out.isEmpty { return (out, indices) }
        let inStrides = Tensor.strides(of: g.input)
        var columnStrides = [Int](repeating: 1, count: spatial)
        for d in 1..<max(spatial, 1) { columnStrides[d] = columnStrides[d - 1] * g.input[d - 1] }
        let colStrides = columnStrides
        let padded = (0..<spatial).map { g.input[$0] + g.padEnd[$0] }
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                indices.withUnsafeMutableBufferPointer { idx in
                    let srcBase = SendableBuffer(src)
                    let dstBase = SendablePointer(dst.baseAddress.unsafelyUnwrapped)
                    let idxBase = wantIndices ? SendablePointer(idx.baseAddress.unsafelyUnwrapped) : nil
                    DispatchQueue.concurrentPerform(iterations: planes) { plane in
                        let src = srcBase.buffer
                        let base = plane * inCount
                        var position = [Int](repeating: 0, count: spatial)
                        var tap = [Int](repeating: 0, count: spatial)
                        for o in 0..<outCount {
                            var best = -Double.infinity, bestIndex = -1
                            var sum = 0.0
                            var real = 0, withPad = 0
                            for d in 0..<spatial { tap[d] = 0 }
                            for _ in 0..<taps {
                                var offset = 0, colOffset = 0
                                var inside = true, inPadding = true
                                for d in 0..<spatial {
                                    let q = position[d] * g.strides[d] - g.padBegin[d] + tap[d] * g.dilations[d]
                                    if q < 0 || q >= g.input[d] {
                                        inside = false
                                        if q < -g.padBegin[d] || q >= padded[d] { inPadding = false }
                                    } else {
                                        offset += q * inStrides[d]
                                        colOffset += q * colStrides[d]
                                    }
                                }
                                if inPadding { withPad += 1 }
                                if inside {
                                    real += 1
                                    let v = src[base + offset]
                                    switch kind {
                                    case .max:
                                        if v > best || bestIndex < 0 {
                                            best = v
                                            bestIndex = columnMajor ? colOffset : offset
                                        }
                                    case .average: sum += v
                                    case .lp(let p): sum += p == 2 ? v * v : pow(abs(v), Double(p))
                                    }
                                }
                                var d = spatial - 1
                                while d >= 0 {
                                    tap[d] += 1
                                    if tap[d] < g.kernel[d] { break }
                                    tap[d] = 0
                                    d -= 1
                                }
                            }
                            let y: Double
                            switch kind {
                            case .max: y = bestIndex < 0 ? -Double.infinity : best
                            case .average(let includePad):
                                let count = includePad ? withPad : real
                                y = count > 0 ? sum / Double(count) : 0
                            case .lp(let p): y = p == 2 ? sum.squareRoot() : pow(sum, 1 / Double(p))
                            }
                            dstBase.pointer[plane * outCount + o] = y
                            if let idxBase {
                                idxBase.pointer[plane * outCount + o] = Int64(plane * inCount + max(bestIndex, 0))
                            }
                            var d = spatial - 1
                            while d >= 0 {
                                position[d] += 1
                                if position[d] < g.output[d] { break }
                                position[d] = 0
                                d -= 1
                            }
                        }
                    }
                }
            }
        }
        return (out, indices)
    }
}

extension Pooling {
    /// `run` for one or two spatial axes, with per-axis coordinate tables instead of index arithmetic.
    static func run2D(
        _ x: Tensor, geometry g: WindowGeometry, kind: PoolKind, wantIndices: Bool, columnMajor: Bool
    ) -> (values: [Double], indices: [Int64]) {
        let planes = x.shape[0] * x.shape[1]
        // One spatial axis is two with a leading axis of size 1.
        let lift = { (v: [Int], one: Int) in v.count == 2 ? v : [one] + v }
        let input = lift(g.input, 1), kernel = lift(g.kernel, 1), output = lift(g.output, 1)
        let strides = lift(g.strides, 1), dilations = lift(g.dilations, 1)
        let begin = lift(g.padBegin, 0), end = lift(g.padEnd, 0)
        // Per axis, per output position and tap: the input coordinate, -1 in the padding, -2 beyond it.
        func table(_ d: Int) -> [Int] {
            var t = [Int](repeating: -2, count: output[d] * kernel[d])
            for o in 0..<output[d] {
                for k in 0..<kernel[d] {
                    let q = o * strides[d] - begin[d] + k * dilations[d]
                    t[o * kernel[d] + k] = q >= 0 && q < input[d] ? q : (q >= -begin[d] && q < input[d] + end[d] ? -1 : -2)
                }
            }
            return t
        }
        let (rows, cols) = (table(0), table(1))
        let (height, width, kh, kw) = (input[0], input[1], kernel[0], kernel[1])
        let (outH, outW) = (output[0], output[1])
        let inCount = height * width, outCount = outH * outW
        let values = x.doubles()
        var out = [Double](repeating: 0, count: planes * outCount)
        var indices = [Int64](repeating: 0, count: wantIndices ? planes * outCount : 0)
        if out.isEmpty { return (out, indices) }
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                indices.withUnsafeMutableBufferPointer { idx in
                    rows.withUnsafeBufferPointer { rows in
                        cols.withUnsafeBufferPointer { cols in
                            let (srcBase, rowsBase, colsBase) = (SendableBuffer(src), SendableBuffer(rows), SendableBuffer(cols))
                            let dstBase = SendablePointer(dst.baseAddress.unsafelyUnwrapped)
                            let idxBase = wantIndices ? SendablePointer(idx.baseAddress.unsafelyUnwrapped) : nil
                            DispatchQueue.concurrentPerform(iterations: planes) { plane in
                                let (src, rows, cols) = (srcBase.buffer, rowsBase.buffer, colsBase.buffer)
                                let base = plane * inCount
                                for oh in 0..<outH {
                                    for ow in 0..<outW {
                                        var best = -Double.infinity, bestIndex = -1
                                        var sum = 0.0
                                        var real = 0, withPad = 0
                                        for i in 0..<kh {
                                            let r = rows[oh * kh + i]
                                            if r == -2 { continue }
                                            for j in 0..<kw {
                                                let c = cols[ow * kw + j]
                                                if c == -2 { continue }
                                                withPad += 1
                                                if r < 0 || c < 0 { continue }
                                                real += 1
                                                let v = src[base + r * width + c]
                                                switch kind {
                                                case .max:
                                                    if v > best || bestIndex < 0 {
                                                        best = v
                                                        bestIndex = columnMajor ? r + c * height : r * width + c
                                                    }
                                                case .average: sum += v
                                                case .lp(let p): sum += p == 2 ? v * v : pow(abs(v), Double(p))
                                                }
                                            }
                                        }
                                        let y: Double
                                        switch kind {
                                        case .max: y = bestIndex < 0 ? -Double.infinity : best
                                        case .average(let includePad):
                                            let count = includePad ? withPad : real
                                            y = count > 0 ? sum / Double(count) : 0
                                        case .lp(let p): y = p == 2 ? sum.squareRoot() : pow(sum, 1 / Double(p))
                                        }
                                        let o = plane * outCount + oh * outW + ow
                                        dstBase.pointer[o] = y
                                        if let idxBase { idxBase.pointer[o] = Int64(base + max(bestIndex, 0)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (out, indices)
    }
}

/// Attributes and shape logic shared by the windowed pooling ops.
extension WindowAttributes {
    /// A pool's window, whose `kernel_shape` is required.
    init(pool attributes: Attributes, op: String) throws {
        try self.init(attributes, op: op)
        guard !kernelShape.isEmpty else {
            throw EmberError.op(op, "attribute 'kernel_shape' is required")
        }
    }

    var poolEntries: [(String, Attribute)] { entries + [("ceil_mode", .int(ceilMode ? 1 : 0))] }

    func poolOutputType(_ x: TensorType, op: String) throws -> TensorType {
        guard let xs = x.shape else { return TensorType(x.dtype, nil) }
        guard xs.count == kernelShape.count + 2 else {
            throw EmberError(.shapeMismatch, "[\(op)] X has rank \(xs.count), expected \(kernelShape.count + 2) for kernel_shape \(kernelShape)")
        }
        let out = try outputDims(input: Array(xs.dropFirst(2)), kernel: kernelShape, op: op)
        return TensorType(x.dtype, Array(xs.prefix(2)) + out)
    }

    func poolGeometry(_ x: Tensor, op: String) throws -> WindowGeometry {
        let spatial = try WindowInput.spatial(x.shape, op: op)
        guard spatial.count == kernelShape.count else {
            throw EmberError(.shapeMismatch, "[\(op)] X has rank \(x.rank), expected \(kernelShape.count + 2) for kernel_shape \(kernelShape)")
        }
        return try geometry(input: spatial, kernel: kernelShape, op: op)
    }
}

/// Max over each window (ONNX `MaxPool`); padding never wins. The optional second output holds
/// the flat input index of each maximum, row-major (`storage_order = 0`) or column-major over
/// the spatial axes (`storage_order = 1`).
///
///     max_pool(f32[batch, 64, 112, 112]) {kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1]}
///         -> f32[batch, 64, 56, 56]
public struct MaxPool: Operator {
    public static let name = "max_pool"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static let outputArity: ClosedRange<Int> = 1...2
    static let dtypes: Set<DType> = [.f64, .f32, .f16, .bf16, .i8, .u8]

    /// The window: kernel shape, strides, dilations, pads, auto_pad and ceil mode.
    public var window: WindowAttributes
    public var storageOrder: Int

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"])
        window = try WindowAttributes(pool: attributes, op: Self.name)
        storageOrder = try attributes.int("storage_order", default: 0)
        guard storageOrder == 0 || storageOrder == 1 else {
            throw EmberError.op(Self.name, "attribute 'storage_order' expected 0 or 1, received \(storageOrder)")
        }
    }

    public var attributes: Attributes { Attributes(op: Self.name, window.poolEntries + [("storage_order", .int(storageOrder))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Self.dtypes, Self.name, input: "X")
        let y = try window.poolOutputType(x, op: Self.name)
        return outputCount == 2 ? [y, TensorType(.i64, y.shape)] : [y]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name, input: "X")
        let g = try window.poolGeometry(x, op: Self.name)
        let r = Pooling.run(x, geometry: g, kind: .max, wantIndices: outputCount == 2, columnMajor: storageOrder == 1)
        let shape = Array(x.shape.prefix(2)) + g.output
        let y = Tensor(x.dtype, shape: shape, doubles: r.values)
        return outputCount == 2 ? [y, Tensor(shape: shape, int64s: r.indices)] : [y]
    }
}

/// Mean over each window (ONNX `AveragePool`): over the input elements only, or, with
/// `count_include_pad`, dividing by the window's size within the padded input.
public struct AveragePool: Operator {
    public static let name = "average_pool"
    public static let inputArity: ClosedRange<Int> = 1...1

    /// The window: kernel shape, strides, dilations, pads, auto_pad and ceil mode.
    public var window: WindowAttributes
    public var countIncludePad: Bool

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"])
        window = try WindowAttributes(pool: attributes, op: Self.name)
        countIncludePad = try attributes.bool("count_include_pad", default: false)
    }

    public var attributes: Attributes {
        Attributes(op: Self.name, window.poolEntries + [("count_include_pad", .int(countIncludePad ? 1 : 0))])
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Conv.dtypes, Self.name, input: "X")
        return [try window.poolOutputType(x, op: Self.name)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Conv.dtypes, Self.name, input: "X")
        let g = try window.poolGeometry(x, op: Self.name)
        let r = Pooling.run(x, geometry: g, kind: .average(countIncludePad: countIncludePad))
        return [Tensor(x.dtype, shape: Array(x.shape.prefix(2)) + g.output, doubles: r.values)]
    }
}

/// The p-norm of each window (ONNX `LpPool`): `(sum |x|^p)^(1/p)`; padding adds nothing.
public struct LpPool: Operator {
    public static let name = "lp_pool"
    public static let inputArity: ClosedRange<Int> = 1...1

    /// The window: kernel shape, strides, dilations, pads, auto_pad and ceil mode.
    public var window: WindowAttributes
    public var p: Int

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"])
        window = try WindowAttributes(pool: attributes, op: Self.name)
        p = try attributes.int("p", default: 2)
        guard p >= 1 else { throw EmberError.op(Self.name, "attribute 'p' expected a positive value, received \(p)") }
    }

    public var attributes: Attributes { Attributes(op: Self.name, window.poolEntries + [("p", .int(p))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Conv.dtypes, Self.name, input: "X")
        return [try window.poolOutputType(x, op: Self.name)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Conv.dtypes, Self.name, input: "X")
        let g = try window.poolGeometry(x, op: Self.name)
        let r = Pooling.run(x, geometry: g, kind: .lp(p: p))
        return [Tensor(x.dtype, shape: Array(x.shape.prefix(2)) + g.output, doubles: r.values)]
    }
}

/// Pooling over all spatial axes at once: `[N, C, spatial...] -> [N, C, 1, ...]`.
protocol GlobalPool: Operator {
    static var dtypes: Set<DType> { get }
    var kind: PoolKind { get }
}

extension GlobalPool {
    public static var inputArity: ClosedRange<Int> { 1...1 }
    static var dtypes: Set<DType> { Conv.dtypes }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Self.dtypes, Self.name, input: "X")
        guard let xs = x.shape else { return [TensorType(x.dtype, nil)] }
        guard xs.count >= 3 else {
            throw EmberError(.shapeMismatch, "[\(Self.name)] X has rank \(xs.count), expected [N, C, spatial...] of rank 3 or more")
        }
        return [TensorType(x.dtype, Array(xs.prefix(2)) + Array(repeating: .known(1), count: xs.count - 2))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name, input: "X")
        let spatial = try WindowInput.spatial(x.shape, op: Self.name)
        let shape = Array(x.shape.prefix(2)) + Array(repeating: 1, count: spatial.count)
        let planes = x.shape[0] * x.shape[1]
        let size = spatial.reduce(1, *)
        if case .f32(let v) = x.storage, kind == .average(countIncludePad: false) {
            // The mean of each plane, summed in Double so long planes stay exact.
            let means = v.withUnsafeBufferPointer { v in
                (0..<planes).map { p in
                    var s = 0.0
                    for i in p * size..<(p + 1) * size { s += Double(v[i]) }
                    return Float(s / Double(size))
                }
            }
            return [Tensor(shape: shape, floats: means)]
        }
        let g = WindowGeometry(
            input: spatial, kernel: spatial, output: shape.dropFirst(2).map { $0 },
            strides: spatial.map { _ in 1 }, dilations: spatial.map { _ in 1 },
            padBegin: spatial.map { _ in 0 }, padEnd: spatial.map { _ in 0 })
        return [Tensor(x.dtype, shape: shape, doubles: Pooling.run(x, geometry: g, kind: kind).values)]
    }
}

/// Mean over all spatial axes (ONNX `GlobalAveragePool`).
public struct GlobalAveragePool: GlobalPool, AttributeFree {
    public static let name = "global_average_pool"
    public init() {}
    var kind: PoolKind { .average(countIncludePad: false) }
}

/// Max over all spatial axes (ONNX `GlobalMaxPool`).
public struct GlobalMaxPool: GlobalPool, AttributeFree {
    public static let name = "global_max_pool"
    public init() {}
    var kind: PoolKind { .max }
}

/// The p-norm over all spatial axes (ONNX `GlobalLpPool`).
public struct GlobalLpPool: GlobalPool {
    public static let name = "global_lp_pool"
    public var p: Int

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["p"])
        p = try attributes.int("p", default: 2)
        guard p >= 1 else { throw EmberError.op(Self.name, "attribute 'p' expected a positive value, received \(p)") }
    }

    public var attributes: Attributes { Attributes(op: Self.name, [("p", .int(p))]) }
    var kind: PoolKind { .lp(p: p) }
}
