import EmberIR

/// `x` limited to `[min, max]`; each bound is an optional scalar input of `x`'s dtype.
/// Where `min > max` every element becomes `max`; NaN stays NaN.
public struct Clip: ScalarElementwise, AttributeFree {
    public static let name = "clip"
    public static let inputArity: ClosedRange<Int> = 1...3
    public static var traits: OpTraits { .elementwise }
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let x = try inputs.type(0)
        try x.expectDType(DType.numeric, Self.name)
        for (i, bound) in [(1, "min"), (2, "max")] where inputs.has(i) {
            let t = try inputs.type(i)
            try Elementwise.expectSameDType(x.dtype, t.dtype, Self.name)
            if let count = t.knownShape.flatMap(Tensor.elementCount), count != 1 {
                throw EmberError.op(Self.name, "expected a scalar \(bound), received shape \(t)", code: .shapeMismatch)
            }
        }
        return [x]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        try x.expectDType(DType.numeric, Self.name)
        var bounds: [Tensor?] = [nil, nil]
        for (i, bound) in [(1, "min"), (2, "max")] {
            guard let t = inputs.optional(i) else { continue }
            try Elementwise.expectSameDType(x.dtype, t.dtype, Self.name)
            guard t.count == 1 else {
                throw EmberError.op(Self.name, "expected a scalar \(bound), received shape \(t.shape)", code: .shapeMismatch)
            }
            bounds[i - 1] = t
        }
        let (lower, upper) = (bounds[0], bounds[1])
        switch x.storage {
        case .f32(let v):
            let lo = lower?.floats().first ?? -.infinity
            let hi = upper?.floats().first ?? .infinity
            return [Tensor(shape: x.shape, storage: .f32(clipElements(v) { Self.clip($0, lo, hi) }))]
        case .u64(let v):
            let lo = lower.flatMap { $0.int64s().first }.map { UInt64(bitPattern: $0) } ?? .min
            let hi = upper.flatMap { $0.int64s().first }.map { UInt64(bitPattern: $0) } ?? .max
            return [Tensor(shape: x.shape, storage: .u64(clipElements(v) { Swift.min(Swift.max($0, lo), hi) }))]
        default:
            if x.dtype.isFloatingPoint {
                let lo = lower?.doubles().first ?? -.infinity
                let hi = upper?.doubles().first ?? .infinity
                return [Tensor(x.dtype, shape: x.shape, doubles: clipElements(x.doubles()) { Self.clip($0, lo, hi) })]
            }
            let lo = lower?.int64s().first ?? .min
            let hi = upper?.int64s().first ?? .max
            return [Tensor(x.dtype, shape: x.shape, int64s: clipElements(x.int64s()) { Swift.min(Swift.max($0, lo), hi) })]
        }
    }

    @inline(__always) static func clip<T: FloatingPoint>(_ x: T, _ lo: T, _ hi: T) -> T {
        let y = x < lo ? lo : x
        return y > hi ? hi : y
    }

    public func formula(_ operands: [ScalarFormula?]) throws -> ScalarFormula {
        guard let x = operands.first ?? nil else {
            throw EmberError.op(Self.name, "expected an input", code: .unsupported)
        }
        var e = x
        if operands.count > 1, let low = operands[1] { e = .max(e, low) }
        if operands.count > 2, let high = operands[2] { e = .min(e, high) }
        return e
    }
}

/// `f` over every element, written here so it specializes (see `Loops`).
@inline(__always)
private func clipElements<T>(_ x: [T], _ f: (T) -> T) -> [T] {
    x.withUnsafeBufferPointer { src in
        [T](unsafeUninitializedCapacity: src.count) { out, initialized in
            guard let o = out.baseAddress else { return }
            for i in 0..<src.count { (o + i).initialize(to: f(src[i])) }
            initialized = src.count
        }
    }
}
