import EmberIR
import Foundation

/// What an `AxisNormalizer` does to each line along its axis.
public enum AxisNormalization: Sendable {
    /// `exp(x - max) / sum(exp(x - max))`.
    case softmax
    /// `x - max - log(sum(exp(x - max)))`.
    case logSoftmax
    /// 1 at the first largest element, 0 elsewhere.
    case hardmax
}

/// An op that rewrites each line along one axis, with ONNX opset 13 semantics (only `axis`
/// itself, not every axis after it). The output has the input's type.
public protocol AxisNormalizer: Operator {
    static var normalization: AxisNormalization { get }
    var axis: Int { get }
    init(axis: Int)
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
        return [try AxisLines(mode: Self.normalization, layout: AxisLayout(x.shape, axis: axis)).apply(x)]
    }
}

/// ONNX `Softmax` (opset 13).
public struct Softmax: AxisNormalizer {
    public static let name = "softmax"
    public static let normalization = AxisNormalization.softmax
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }
}

/// ONNX `LogSoftmax` (opset 13).
public struct LogSoftmax: AxisNormalizer {
    public static let name = "log_softmax"
    public static let normalization = AxisNormalization.logSoftmax
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }
}

/// ONNX `Hardmax` (opset 13).
public struct Hardmax: AxisNormalizer {
    public static let name = "hardmax"
    public static let normalization = AxisNormalization.hardmax
    public var axis: Int
    public init(axis: Int = -1) { self.axis = axis }
}

/// The lines along an axis, each rewritten in `Double` with a scratch row.
private struct AxisLines: FloatMap {
    var mode: AxisNormalization
    var layout: AxisLayout

    func run(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, shape: [Int]) { kernel(x, y) }
    func run(_ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>, shape: [Int]) { kernel(x, y) }

    func kernel<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>) {
        let (n, inner) = (layout.size, layout.inner)
        guard n > 0, inner > 0 else { return }
        if inner > 1 { return columns(x, y) }
        var scratch = [Double](repeating: 0, count: n)
        scratch.withUnsafeMutableBufferPointer { e in
            for o in 0..<layout.outer {
                let base = o * n
                for j in 0..<n { e[j] = Double(x[base + j]) }
                line(e)
                for j in 0..<n { y[base + j] = T(e[j]) }
            }
        }
    }

    /// An axis that is not the last: each `[size, inner]` block is processed a row at a time,
    /// every column at once, so memory is read in order.
    private func columns<T: KernelFloat>(_ x: UnsafeBufferPointer<T>, _ y: UnsafeMutableBufferPointer<T>) {
        let (n, inner) = (layout.size, layout.inner)
        var m = [Double](repeating: 0, count: inner)
        var sum = [Double](repeating: 0, count: inner)
        var best = [Int](repeating: 0, count: inner)
        var exps = [Double](repeating: 0, count: mode == .hardmax ? 0 : n * inner)
        for o in 0..<layout.outer {
            let base = o * n * inner
            for i in 0..<inner {
                m[i] = -.infinity
                sum[i] = 0
                best[i] = 0
            }
            for j in 0..<n {
                for i in 0..<inner {
                    let v = Double(x[base + j * inner + i])
                    if mode == .hardmax {
                        if v > Double(x[base + best[i] * inner + i]) { best[i] = j }
                    } else {
                        m[i] = Swift.max(m[i], v)
                    }
                }
            }
            if mode == .hardmax {
                for j in 0..<n {
                    for i in 0..<inner { y[base + j * inner + i] = best[i] == j ? 1 : 0 }
                }
                continue
            }
            for i in 0..<inner where !m[i].isFinite { m[i] = 0 }
            for j in 0..<n {
                for i in 0..<inner {
                    let e = Foundation.exp(Double(x[base + j * inner + i]) - m[i])
                    exps[j * inner + i] = e
                    sum[i] += e
                }
            }
            for j in 0..<n {
                for i in 0..<inner {
                    let k = j * inner + i
                    y[base + k] =
                        mode == .softmax
                        ? T(exps[k] / sum[i]) : T(Double(x[base + k]) - m[i] - Foundation.log(sum[i]))
                }
            }
        }
    }

    @inline(__always)
    private func line(_ e: UnsafeMutableBufferPointer<Double>) {
        let n = e.count
        switch mode {
        case .softmax, .logSoftmax:
            var m = -Double.infinity
            for j in 0..<n { m = Swift.max(m, e[j]) }
            if !m.isFinite { m = 0 }
            var sum = 0.0
            if mode == .softmax {
                for j in 0..<n {
                    e[j] = Foundation.exp(e[j] - m)
                    sum += e[j]
                }
                for j in 0..<n { e[j] /= sum }
            } else {
                for j in 0..<n { sum += Foundation.exp(e[j] - m) }
                let shift = m + Foundation.log(sum)
                for j in 0..<n { e[j] -= shift }
            }
        case .hardmax:
            var best = 0
            for j in 0..<n where e[j] > e[best] { best = j }
            for j in 0..<n { e[j] = j == best ? 1 : 0 }
        }
    }
}
