import EmberIR
import Foundation

/// An op that rewrites each line along one axis, with ONNX opset 13 semantics (only `axis`
/// itself, not every axis after it). The output has the input's type.
public protocol AxisNormalizer: Operator {
    var axis: Int { get }
    init(axis: Int)
    /// Rewrites one line of `x` into `y`: `scratch.count` elements from `base`, `stride` apart.
    func line<T: KernelFloat>(
        _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, base: Int, stride: Int,
        scratch: UnsafeMutableBufferPointer<Double>)
}

extension AxisNormalizer {
    public static var inputArity: ClosedRange<Int> { 1...1 }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["axis"])
        self.init(axis: try attributes.int("axis", default: -1))
    }

    public var attributes: Attributes { Attributes(op: Self.name, [("axis", .int(axis))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.floatingPoint, Self.name)
        if let rank = x.rank { _ = try Axes.normalize(axis, rank: rank, op: Self.name) }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.floatingPoint, Self.name)
        let axis = try Axes.normalize(axis, rank: x.rank, op: Self.name)
        return [try AxisLines(op: self, layout: AxisLayout(x.shape, axis: axis)).apply(x)]
    }
}

/// Splits a tensor into lines along an axis and hands each line to the op.
private struct AxisLines<Op: AxisNormalizer>: FloatMap {
    var op: Op
    var layout: AxisLayout

    func run<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, shape: [Int]) {
        guard layout.size > 0 else { return }
        var scratch = [Double](repeating: 0, count: layout.size)
        scratch.withUnsafeMutableBufferPointer { scratch in
            for o in 0..<layout.outer {
                for i in 0..<layout.inner {
                    op.line(x, y, base: o * layout.size * layout.inner + i, stride: layout.inner, scratch: scratch)
                }
            }
        }
    }
}

/// `exp(x - max) / sum(exp(x - max))` along `axis`.
public struct Softmax: AxisNormalizer {
    public static let name = "softmax"
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }

    public func line<T: KernelFloat>(
        _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, base: Int, stride: Int,
        scratch e: UnsafeMutableBufferPointer<Double>
    ) {
        var m = -Double.infinity
        for j in 0..<e.count { m = Swift.max(m, x[base + j * stride].double) }
        if !m.isFinite { m = 0 }
        var sum = 0.0
        for j in 0..<e.count {
            e[j] = Foundation.exp(x[base + j * stride].double - m)
            sum += e[j]
        }
        for j in 0..<e.count { y[base + j * stride] = T(rounding: e[j] / sum) }
    }
}

/// `x - max - log(sum(exp(x - max)))` along `axis`.
public struct LogSoftmax: AxisNormalizer {
    public static let name = "log_softmax"
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }

    public func line<T: KernelFloat>(
        _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, base: Int, stride: Int,
        scratch: UnsafeMutableBufferPointer<Double>
    ) {
        let n = scratch.count
        var m = -Double.infinity
        for j in 0..<n { m = Swift.max(m, x[base + j * stride].double) }
        if !m.isFinite { m = 0 }
        var sum = 0.0
        for j in 0..<n { sum += Foundation.exp(x[base + j * stride].double - m) }
        let shift = m + Foundation.log(sum)
        for j in 0..<n { y[base + j * stride] = T(rounding: x[base + j * stride].double - shift) }
    }
}

/// 1 at the first largest element along `axis`, 0 elsewhere.
public struct Hardmax: AxisNormalizer {
    public static let name = "hardmax"
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }

    public func line<T: KernelFloat>(
        _ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>, base: Int, stride: Int,
        scratch: UnsafeMutableBufferPointer<Double>
    ) {
        var best = 0
        for j in 0..<scratch.count {
            if x[base + j * stride].double > x[base + best * stride].double { best = j }
            y[base + j * stride] = T(rounding: 0)
        }
        y[base + best * stride] = T(rounding: 1)
    }
}
