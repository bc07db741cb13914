import EmberIR

/// `x` where `condition`, else `y`, all three broadcast together; `x` and `y` share any dtype.
public struct Where: AttributeFree {
    public static let name = "where"
    public static let inputArity: ClosedRange<Int> = 3...3
    public static var traits: OpTraits { .elementwise }
    public init() {}

    public func inferTypes(_ inputs: OpInputs, outputCount: Int) throws -> [TensorType] {
        let (c, x, y) = (try inputs.type(0), try inputs.type(1), try inputs.type(2))
        try c.expectDType([.bool], Self.name, input: "condition")
        try Elementwise.expectSameDType(x.dtype, y.dtype, Self.name)
        return [TensorType(x.dtype, try Broadcast.dims([c.shape, x.shape, y.shape], op: Self.name))]
    }

    public func evaluate(_ inputs: [Tensor?], outputCount: Int) throws -> [Tensor] {
        let c = try inputs.required(0, Self.name)
        let (x, y) = (try inputs.required(1, Self.name), try inputs.required(2, Self.name))
        try c.expectDType([.bool], Self.name, input: "condition")
        try Elementwise.expectSameDType(x.dtype, y.dtype, Self.name)
        let plan = try BroadcastPlan([c, x, y], op: Self.name)
        let condition = c.bools()
        let inner = plan.strides.map { $0[plan.dims.count - 1] }
        let (sc, sa, sb) = (inner[0], inner[1], inner[2])
        // Written out here rather than through `Loops`, so it specializes for each element type.
        func select<T>(_ a: [T], _ b: [T]) -> [T] {
            condition.withUnsafeBufferPointer { pc in
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        [T](unsafeUninitializedCapacity: plan.count) { out, initialized in
                            guard let o = out.baseAddress else { return }
                            var rows = RowCursor(plan)
                            while rows.start < plan.count {
                                let (ic, ia, ib) = (rows.offsets[0], rows.offsets[1], rows.offsets[2])
                                let dst = o + rows.start
                                if sc == 1 && sa == 1 && sb == 1 {
                                    for j in 0..<rows.length {
                                        (dst + j).initialize(to: pc[ic + j] ? pa[ia + j] : pb[ib + j])
                                    }
                                } else {
                                    for j in 0..<rows.length {
                                        (dst + j).initialize(to: pc[ic + j * sc] ? pa[ia + j * sa] : pb[ib + j * sb])
                                    }
                                }
                                rows.advance()
                            }
                            initialized = plan.count
                        }
                    }
                }
            }
        }
        let storage: TensorStorage
        switch (x.storage, y.storage) {
        case (.f64(let a), .f64(let b)): storage = .f64(select(a, b))
        case (.f32(let a), .f32(let b)): storage = .f32(select(a, b))
        case (.f16(let a), .f16(let b)): storage = .f16(select(a, b))
        case (.bf16(let a), .bf16(let b)): storage = .bf16(select(a, b))
        case (.i64(let a), .i64(let b)): storage = .i64(select(a, b))
        case (.i32(let a), .i32(let b)): storage = .i32(select(a, b))
        case (.i16(let a), .i16(let b)): storage = .i16(select(a, b))
        case (.i8(let a), .i8(let b)): storage = .i8(select(a, b))
        case (.u64(let a), .u64(let b)): storage = .u64(select(a, b))
        case (.u32(let a), .u32(let b)): storage = .u32(select(a, b))
        case (.u16(let a), .u16(let b)): storage = .u16(select(a, b))
        case (.u8(let a), .u8(let b)): storage = .u8(select(a, b))
        case (.bool(let a), .bool(let b)): storage = .bool(select(a, b))
        default: throw EmberError.op(Self.name, "inputs have dtypes \(x.dtype) and \(y.dtype), expected one dtype")
        }
        return [Tensor(shape: plan.shape, storage: storage)]
    }
}
