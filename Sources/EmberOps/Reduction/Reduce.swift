import EmberIR
import Foundation

/// How one reduction combines elements: a transform of each element, a fold, and a final step.
public enum ReduceKind: Sendable {
    case sum, mean, max, min, prod, l1, l2, logSumExp, logSum, sumSquare
}

/// A reduction over any set of axes, ONNX `Reduce*` (opset 18 form: `axes` is an optional i64
/// input; absent or empty means every axis, or none with `noop_with_empty_axes`).
///
///     reduce_sum(x: f32[2,3], axes: [1]) {keepdims = 0}  ->  f32[2]
public protocol AxesReduction: Operator {
    static var kind: ReduceKind { get }
    static var dtypes: Set<DType> { get }
    var options: ReductionOptions { get }
    init(options: ReductionOptions)
}

/// The attributes every `Reduce*` op shares.
public struct ReductionOptions: Sendable, Equatable {
    public var keepdims = true
    public var noopWithEmptyAxes = false
}

extension AxesReduction {
    public init(keepdims: Bool = true, noopWithEmptyAxes: Bool = false) {
        self.init(options: ReductionOptions(keepdims: keepdims, noopWithEmptyAxes: noopWithEmptyAxes))
    }

    public var keepdims: Bool { options.keepdims }
    public var noopWithEmptyAxes: Bool { options.noopWithEmptyAxes }

    public static var inputArity: ClosedRange<Int> { 1...2 }
    public static var traits: OpTraits { .reduction }
    public static var dtypes: Set<DType> { DType.floatingPoint.union([.i64, .i32, .u64, .u32]) }

    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["keepdims", "noop_with_empty_axes"])
        self.init(
            keepdims: try attributes.bool("keepdims", default: true),
            noopWithEmptyAxes: try attributes.bool("noop_with_empty_axes", default: false))
    }

    public var attributes: Attributes {
        Attributes(
            op: Self.name,
            [("keepdims", .int(keepdims ? 1 : 0)), ("noop_with_empty_axes", .int(noopWithEmptyAxes ? 1 : 0))])
    }

    /// The reduced axes, normalized, from the axes tensor (nil when absent).
    func reducedAxes(_ axes: Tensor?, rank: Int) throws -> [Int] {
        guard let axes, axes.count > 0 else { return noopWithEmptyAxes ? [] : Array(0..<rank) }
        guard axes.dtype == .i64, axes.rank == 1 else {
            throw EmberError(.typeMismatch, "[\(Self.name)] axes expected a 1-D i64 tensor, received \(axes.type)")
        }
        return try Axes.normalize(axes.ints(), rank: rank, op: Self.name)
    }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(Self.dtypes, Self.name)
        if inputs.has(1) {
            let axesType = try inputs.type(1)
            guard axesType.dtype == .i64 else {
                throw EmberError(.typeMismatch, "[\(Self.name)] axes has dtype \(axesType.dtype), expected i64")
            }
            try axesType.expectRank(1, Self.name, input: "axes")
        }
        guard let shape = x.shape else { return [x] }
        let axes: [Int]
        if inputs.has(1) {
            guard let constant = inputs.constant(1) else {
                // Axes known only at run time: with keepdims the rank stays; without, the rank is
                // known when the number of axes is.
                let count = try inputs.type(1).shape?.first?.value
                if count == 0 { return [inferredType(x, shape, axes: try reducedAxes(nil, rank: shape.count))] }
                if keepdims { return [x.with(shape: shape.map { $0 == .known(1) ? $0 : .unknown })] }
                guard let count else { return [x.with(shape: nil)] }
                guard count <= shape.count else {
                    throw EmberError(.shapeMismatch, "[\(Self.name)] \(count) axes given for rank \(shape.count)")
                }
                return [x.with(shape: Array(repeating: .unknown, count: shape.count - count))]
            }
            axes = try reducedAxes(constant, rank: shape.count)
        } else {
            axes = try reducedAxes(nil, rank: shape.count)
        }
        return [inferredType(x, shape, axes: axes)]
    }

    private func inferredType(_ x: TensorType, _ shape: [Dim], axes: [Int]) -> TensorType {
        var out: [Dim] = []
        for (i, d) in shape.enumerated() {
            if !axes.contains(i) {
                out.append(d)
            } else if keepdims {
                out.append(.known(1))
            }
        }
        return x.with(shape: out)
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(Self.dtypes, Self.name)
        let axes = try reducedAxes(inputs.optional(1), rank: x.rank)
        let plan = ReductionPlan(shape: x.shape, axes: axes)
        let outShape = keepdims ? plan.keptShape : plan.droppedShape
        return [try Reduction.run(Self.kind, x, plan: plan, shape: outShape, op: Self.name)]
    }
}

/// `sum(x)` over axes.
public struct ReduceSum: AxesReduction {
    public static let name = "reduce_sum"
    public static let kind = ReduceKind.sum
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `sum(x) / n` over axes; integers divide truncating toward zero.
public struct ReduceMean: AxesReduction {
    public static let name = "reduce_mean"
    public static let kind = ReduceKind.mean
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `max(x)` over axes; NaN propagates, an empty reduction gives -inf (the type's minimum for integers).
public struct ReduceMax: AxesReduction {
    public static let name = "reduce_max"
    public static let kind = ReduceKind.max
    public static let dtypes: Set<DType> = DType.floatingPoint.union([.i64, .i32, .u64, .u32, .i8, .u8, .bool])
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `min(x)` over axes; NaN propagates, an empty reduction gives +inf (the type's maximum for integers).
public struct ReduceMin: AxesReduction {
    public static let name = "reduce_min"
    public static let kind = ReduceKind.min
    public static let dtypes: Set<DType> = DType.floatingPoint.union([.i64, .i32, .u64, .u32, .i8, .u8, .bool])
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `prod(x)` over axes.
public struct ReduceProd: AxesReduction {
    public static let name = "reduce_prod"
    public static let kind = ReduceKind.prod
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `sum(|x|)` over axes.
public struct ReduceL1: AxesReduction {
    public static let name = "reduce_l1"
    public static let kind = ReduceKind.l1
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `sqrt(sum(x^2))` over axes.
public struct ReduceL2: AxesReduction {
    public static let name = "reduce_l2"
    public static let kind = ReduceKind.l2
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `log(sum(exp(x)))` over axes, computed as `m + log(sum(exp(x - m)))` with `m = max(x)`.
public struct ReduceLogSumExp: AxesReduction {
    public static let name = "reduce_log_sum_exp"
    public static let kind = ReduceKind.logSumExp
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `log(sum(x))` over axes.
public struct ReduceLogSum: AxesReduction {
    public static let name = "reduce_log_sum"
    public static let kind = ReduceKind.logSum
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// `sum(x^2)` over axes.
public struct ReduceSumSquare: AxesReduction {
    public static let name = "reduce_sum_square"
    public static let kind = ReduceKind.sumSquare
    public var options: ReductionOptions
    public init(options: ReductionOptions) { self.options = options }
}

/// Where each input element goes in a reduction: the input shape with runs of neighbouring
/// reduced (or kept) axes merged, and the output stride of each merged dim (0 where reduced).
struct ReductionPlan {
    var keptShape: [Int]
    var droppedShape: [Int]
    var outputCount: Int
    /// Elements folded into each output.
    var groupSize: Int
    var dims: [Int] = []
    var outStrides: [Int] = []

    init(shape: [Int], axes: [Int]) {
        keptShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        droppedShape = shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        outputCount = droppedShape.product
        groupSize = axes.map { shape[$0] }.product
        var reducedFlags: [Bool] = []
        for (i, d) in shape.enumerated() where d != 1 {
            let reduced = axes.contains(i)
            if let last = reducedFlags.last, last == reduced {
                dims[dims.count - 1] *= d
            } else {
                dims.append(d)
                reducedFlags.append(reduced)
            }
        }
        outStrides = Array(repeating: 0, count: dims.count)
        var running = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) where !reducedFlags[i] {
            outStrides[i] = running
            running *= dims[i]
        }
    }

    /// Calls `body(inputStart, outputStart, length, outputStep)` for each run of the innermost
    /// merged dim, in input order; `outputStep` is 0 when the run folds into one output.
    @inline(__always)
    func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
        let inputCount = dims.product
        guard inputCount > 0 else { return }
        guard let innerLength = dims.last, let innerStep = outStrides.last else {
            body(0, 0, 1, 0)
            return
        }
        let rank = dims.count
        var index = [Int](repeating: 0, count: rank)
        var out = 0
        var start = 0
        while start < inputCount {
            body(start, out, innerLength, innerStep)
            start += innerLength
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                out += outStrides[axis]
                if index[axis] < dims[axis] { break }
                out -= outStrides[axis] * index[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// A fold of `Double`s: the element transform, the combining step and the starting value.
protocol DoubleFold {
    static var initial: Double { get }
    static func step(_ acc: Double, _ x: Double) -> Double
}

private enum SumFold: DoubleFold {
    static var initial: Double { 0 }
    @inline(__always) static func step(_ acc: Double, _ x: Double) -> Double { acc + x }
}
private enum AbsSumFold: DoubleFold {
    static var initial: Double { 0 }
    @inline(__always) static func step(_ acc: Double, _ x: Double) -> Double { acc + Swift.abs(x) }
}
private enum SquareSumFold: DoubleFold {
    static var initial: Double { 0 }
    @inline(__always) static func step(_ acc: Double, _ x: Double) -> Double { acc + x * x }
}
private enum ProdFold: DoubleFold {
    static var initial: Double { 1 }
    @inline(__always) static func step(_ acc: Double, _ x: Double) -> Double { acc * x }
}
private enum MaxFold: DoubleFold {
    static var initial: Double { -.infinity }
    @inline(__always) static func step(_ acc: Double, _ x: Double) -> Double { x > acc || x.isNaN ? x : acc }
}
private enum MinFold: DoubleFold {
    static var initial: Double { .infinity }
    @inline(__always) static func step(_ acc: Double, _ x: Double) -> Double { x < acc || x.isNaN ? x : acc }
}

/// The reduction loops.
enum Reduction {
    static func run(_ kind: ReduceKind, _ x: Tensor, plan: ReductionPlan, shape: [Int], op: String) throws -> Tensor {
        if x.dtype.isFloatingPoint || [.l2, .logSum, .logSumExp].contains(kind) {
            let values: [Double]
            switch x.storage {
            case .f32(let a): values = a.withUnsafeBufferPointer { reduceFloat(kind, $0, plan) }
            case .f64(let a): values = a.withUnsafeBufferPointer { reduceFloat(kind, $0, plan) }
            default: values = x.doubles().withUnsafeBufferPointer { reduceFloat(kind, $0, plan) }
            }
            return Tensor(x.dtype, shape: shape, doubles: values)
        }
        return Tensor(x.dtype, shape: shape, int64s: reduceInteger(kind, x, plan))
    }

    /// Folds `x` into one accumulator per output.
    static func fold<T: KernelFloat, F: DoubleFold>(_ x: UnsafeBufferPointer<T>, _ plan: ReductionPlan, _: F.Type)
        -> [Double]
    {
        var acc = [Double](repeating: F.initial, count: plan.outputCount)
        acc.withUnsafeMutableBufferPointer { acc in
            plan.forEachRun { start, out, n, step in
                if step == 0 {
                    var a = acc[out]
                    for j in 0..<n { a = F.step(a, Double(x[start + j])) }
                    acc[out] = a
                } else {
                    for j in 0..<n { acc[out + j] = F.step(acc[out + j], Double(x[start + j])) }
                }
            }
        }
        return acc
    }

    static func reduceFloat<T: KernelFloat>(_ kind: ReduceKind, _ x: UnsafeBufferPointer<T>, _ plan: ReductionPlan)
        -> [Double]
    {
        let n = Double(plan.groupSize)
        switch kind {
        case .sum: return fold(x, plan, SumFold.self)
        case .mean: return fold(x, plan, SumFold.self).map { $0 / n }
        case .max: return fold(x, plan, MaxFold.self)
        case .min: return fold(x, plan, MinFold.self)
        case .prod: return fold(x, plan, ProdFold.self)
        case .l1: return fold(x, plan, AbsSumFold.self)
        case .l2: return fold(x, plan, SquareSumFold.self).map { $0.squareRoot() }
        case .sumSquare: return fold(x, plan, SquareSumFold.self)
        case .logSum: return fold(x, plan, SumFold.self).map { Foundation.log($0) }
        case .logSumExp:
            // Shift by the maximum so exp never overflows; an infinite maximum is the answer itself.
            let maxima = fold(x, plan, MaxFold.self)
            var sums = [Double](repeating: 0, count: plan.outputCount)
            maxima.withUnsafeBufferPointer { m in
                sums.withUnsafeMutableBufferPointer { acc in
                    plan.forEachRun { start, out, count, step in
                        for j in 0..<count {
                            let o = out + j * step
                            let shift = m[o].isFinite ? m[o] : 0
                            acc[o] += Foundation.exp(Double(x[start + j]) - shift)
                        }
                    }
                }
            }
            return zip(maxima, sums).map { m, s in m.isFinite ? m + Foundation.log(s) : (m.isNaN ? m : Foundation.log(s)) }
        }
    }

    /// Integer reductions in `Int64` with wrapping arithmetic; `u64` compares and divides unsigned.
    static func reduceInteger(_ kind: ReduceKind, _ x: Tensor, _ plan: ReductionPlan) -> [Int64] {
        let values = x.int64s()
        let unsigned = x.dtype == .u64
        let (minValue, maxValue): (Int64, Int64) =
            switch x.dtype {
            case .i32: (Int64(Int32.min), Int64(Int32.max))
            case .i8: (Int64(Int8.min), Int64(Int8.max))
            case .u32: (0, Int64(UInt32.max))
            case .u8: (0, Int64(UInt8.max))
            case .u64: (0, -1)
            case .bool: (0, 1)
            default: (.min, .max)
            }
        @inline(__always) func less(_ a: Int64, _ b: Int64) -> Bool { unsigned ? UInt64(bitPattern: a) < UInt64(bitPattern: b) : a < b }
        let initial: Int64 =
            switch kind {
            case .prod: 1
            case .max: minValue
            case .min: maxValue
            default: 0
            }
        var acc = [Int64](repeating: initial, count: plan.outputCount)
        values.withUnsafeBufferPointer { x in
            acc.withUnsafeMutableBufferPointer { acc in
                plan.forEachRun { start, out, n, step in
                    for j in 0..<n {
                        let o = out + j * step
                        let v = x[start + j]
                        switch kind {
                        case .max: if less(acc[o], v) { acc[o] = v }
                        case .min: if less(v, acc[o]) { acc[o] = v }
                        case .prod: acc[o] = acc[o] &* v
                        case .l1: acc[o] = acc[o] &+ (unsigned || v >= 0 ? v : 0 &- v)
                        case .sumSquare: acc[o] = acc[o] &+ v &* v
                        default: acc[o] = acc[o] &+ v
                        }
                    }
                }
            }
        }
        if kind == .mean {
            let n = Int64(plan.groupSize)
            return acc.map { s in
                if n == 0 { return 0 }
                if unsigned { return Int64(bitPattern: UInt64(bitPattern: s) / UInt64(n)) }
                return s.dividedReportingOverflow(by: n).partialValue
            }
        }
        return acc
    }
}
