import EmberIR

/// `x` converted to dtype `to`.
///
/// Floats to integers truncate toward zero (saturating, NaN to 0: out of range is undefined in
/// ONNX); integers to narrower integers wrap; anything to bool is `x != 0`. ONNX's `saturate` and
/// `round_mode` only concern 8-bit and smaller float types, which Ember does not have, so they are
/// accepted and dropped.
public struct Cast: Operator {
    public static let name = "cast"
    public static let inputArity: ClosedRange<Int> = 1...1
    public static var traits: OpTraits { .elementwise }
    public var to: DType

    public init(to: DType) { self.to = to }
    public init(attributes: Attributes) throws {
        try attributes.expectOnly(["to", "saturate", "round_mode"])
        guard let to = try attributes.dtype("to") else {
            throw EmberError.op(Self.name, "attribute 'to' is required")
        }
        self.to = to
    }
    public var attributes: Attributes { Attributes(op: Self.name, [("to", .dtype(to))]) }

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        [TensorType(to, try inputs.type(0).shape)]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let x = try inputs.required(0, Self.name)
        // Direct loops between the float types (each conversion rounds once); the rest go
        // through `Tensor.cast`, which computes in Double or Int64.
        let storage: TensorStorage? =
            switch (x.storage, to) {
            case (.f32(let v), .f64): .f64(convert(v) { Double($0) })
            case (.f32(let v), .f16): .f16(convert(v) { Float16($0) })
            case (.f32(let v), .bf16): .bf16(convert(v) { BFloat16($0) })
            case (.f64(let v), .f32): .f32(convert(v) { Float($0) })
            case (.f16(let v), .f32): .f32(convert(v) { Float($0) })
            case (.bf16(let v), .f32): .f32(convert(v) { $0.floatValue })
            case (.u64, _) where to.isFloatingPoint: TensorStorage.fromDoubles(x.exactDoubles(), as: to)
            default: nil
            }
        if let storage { return [Tensor(shape: x.shape, storage: storage)] }
        return [x.cast(to: to)]
    }
}

/// `f` over every element, written here so it specializes (see `Loops`).
@inline(__always)
private func convert<T, R>(_ x: [T], _ f: (T) -> R) -> [R] {
    x.withUnsafeBufferPointer { src in
        [R](unsafeUninitializedCapacity: src.count) { out, initialized in
            guard let o = out.baseAddress else { return }
            for i in 0..<src.count { (o + i).initialize(to: f(src[i])) }
            initialized = src.count
        }
    }
}

extension Tensor {
    /// The elements as `Double`, unsigned 64-bit ones by value: `doubles()` currently converts
    /// them through `Double.init(bitPattern:)`.
    func exactDoubles() -> [Double] {
        if case .u64(let a) = storage { return convert(a) { Double($0) } }
        return doubles()
    }
}
