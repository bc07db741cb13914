import EmberIR
import EmberOps

/// `cast` between f32, f64, the integer types up to 32 bits, i64 and bool, as the reference does
/// it: floats to integers truncate toward zero (saturating, NaN to 0), integers wrap, anything to
/// bool is `x != 0`, and integers become floats through `Double`.
struct CastKernel: CPUKernel {
    let node: KernelNode
    let to: DType
    static let dtypes: Set<DType> = [.f32, .f64, .i64, .i32, .i16, .i8, .u32, .u16, .u8, .bool]

    init(_ node: KernelNode) throws {
        guard let op = node.op as? Cast else { throw EmberError.op(node.op.name, "not a cast", code: .unsupported) }
        for dtype in [node.inputTypes.first??.dtype, op.to] where !Self.dtypes.contains(dtype ?? .u64) {
            throw EmberError.op(op.name, "casts involving \(dtype?.description ?? "none") are not run here", code: .unsupported)
        }
        self.node = node
        to = op.to
    }

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        let x = try inputs.required(0, node.op.name)
        guard let y = outputs.first, Self.dtypes.contains(x.dtype) else {
            throw node.error(.typeMismatch, "expected an input of \(Self.dtypes.map(\.description).sorted())")
        }
        try y.expect(shape: x.shape, dtype: to, node)
        let n = x.count
        if x.dtype == to {
            if x.data != y.data { y.data.copyMemory(from: x.data, byteCount: n * to.byteSize) }
            return
        }
        if to.isFloatingPoint {
            // To a float type: through Double, which holds every value involved exactly.
            for i in 0..<n { Self.store(Self.double(x, i), y, i) }
        } else if to == .bool {
            for i in 0..<n { y.pointer(as: Bool.self)[i] = Self.double(x, i) != 0 }
        } else if x.dtype.isFloatingPoint {
            for i in 0..<n { Self.store(Int64.saturating(Self.double(x, i)), y, i) }
        } else {
            for i in 0..<n { Self.store(Self.integer(x, i), y, i) }
        }
    }

    static func double(_ v: TensorView, _ i: Int) -> Double {
        switch v.dtype {
        case .f32: Double(v.pointer(as: Float.self)[i])
        case .f64: v.pointer(as: Double.self)[i]
        default: Double(integer(v, i))
        }
    }

    static func integer(_ v: TensorView, _ i: Int) -> Int64 {
        switch v.dtype {
        case .i64: v.pointer(as: Int64.self)[i]
        case .i32: Int64(v.pointer(as: Int32.self)[i])
        case .i16: Int64(v.pointer(as: Int16.self)[i])
        case .i8: Int64(v.pointer(as: Int8.self)[i])
        case .u32: Int64(v.pointer(as: UInt32.self)[i])
        case .u16: Int64(v.pointer(as: UInt16.self)[i])
        case .u8: Int64(v.pointer(as: UInt8.self)[i])
        case .bool: v.pointer(as: Bool.self)[i] ? 1 : 0
        default: Int64.saturating(double(v, i))
        }
    }

    static func store(_ value: Double, _ v: TensorView, _ i: Int) {
        switch v.dtype {
        case .f32: v.pointer(as: Float.self)[i] = Float(value)
        case .f64: v.pointer(as: Double.self)[i] = value
        default: store(Int64.saturating(value), v, i)
        }
    }

    static func store(_ value: Int64, _ v: TensorView, _ i: Int) {
        switch v.dtype {
        case .i64: v.pointer(as: Int64.self)[i] = value
        case .i32: v.pointer(as: Int32.self)[i] = Int32(truncatingIfNeeded: value)
        case .i16: v.pointer(as: Int16.self)[i] = Int16(truncatingIfNeeded: value)
        case .i8: v.pointer(as: Int8.self)[i] = Int8(truncatingIfNeeded: value)
        case .u32: v.pointer(as: UInt32.self)[i] = UInt32(truncatingIfNeeded: value)
        case .u16: v.pointer(as: UInt16.self)[i] = UInt16(truncatingIfNeeded: value)
        case .u8: v.pointer(as: UInt8.self)[i] = UInt8(truncatingIfNeeded: value)
        case .bool: v.pointer(as: Bool.self)[i] = value != 0
        default: store(Double(value), v, i)
        }
    }
}
