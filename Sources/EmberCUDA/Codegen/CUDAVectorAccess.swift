import EmberIR

/// Lines of CUDA C++ that move `width` consecutive float-dtype elements as 16-byte accesses
/// (4 f32 or 8 f16/bf16 per `uint4`), converting to and from f32 registers.
enum CUDAVectorAccess {
    /// Elements of `dtype` in one 16-byte access.
    static func width(_ dtype: DType) -> Int { 16 / dtype.byteSize }

    /// Declares `float NAME[width]` and fills it from `pointer` (an element pointer, 16-byte aligned).
    static func load(_ dtype: DType, _ pointer: String, into name: String, width: Int) -> [String] {
        var lines = ["float \(name)[\(width)];"]
        let per = 16 / dtype.byteSize
        for c in 0..<(width / per) {
            let q = "\(name)_q\(c)"
            lines.append("uint4 \(q) = reinterpret_cast<const uint4 *>(\(pointer))[\(c)];")
            for (w, field) in ["x", "y", "z", "w"].enumerated() {
                if dtype == .f32 {
                    lines.append("\(name)[\(c * 4 + w)] = __uint_as_float(\(q).\(field));")
                } else {
                    lines.append("\(name)[\(c * 8 + 2 * w)] = \(CUDAPrelude.load(dtype, "(unsigned short)(\(q).\(field) & 0xffffu)"));")
                    lines.append("\(name)[\(c * 8 + 2 * w + 1)] = \(CUDAPrelude.load(dtype, "(unsigned short)(\(q).\(field) >> 16)"));")
                }
            }
        }
        return lines
    }

    /// Stores `float NAME[width]` at `pointer` (an element pointer, 16-byte aligned), rounded to `dtype`.
    static func store(_ dtype: DType, _ pointer: String, from name: String, width: Int) -> [String] {
        let per = 16 / dtype.byteSize
        return (0..<(width / per)).map { c in
            let fields: [String] = (0..<4).map { w in
                if dtype == .f32 { return "__float_as_uint(\(name)[\(c * 4 + w)])" }
                let lo = CUDAPrelude.store(dtype, "\(name)[\(c * 8 + 2 * w)]")
                let hi = CUDAPrelude.store(dtype, "\(name)[\(c * 8 + 2 * w + 1)]")
                return "((unsigned int)\(lo) | ((unsigned int)\(hi) << 16))"
            }
            return "reinterpret_cast<uint4 *>(\(pointer))[\(c)] = make_uint4(\(fields.joined(separator: ", ")));"
        }
    }
}
