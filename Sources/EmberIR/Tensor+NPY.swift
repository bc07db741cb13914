import Foundation

/// NumPy `.npy` files, the on-disk form of inputs and outputs.
extension Tensor {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// The NumPy type string for a dtype; bfloat16 has none, and is written as float32.
    static func npyDescr(_ dtype: DType) -> String? {
        switch dtype {
        case .f64: "<f8"
        case .f32: "<f4"
        case .f16: "<f2"
        case .bf16: nil
        case .i64: "<i8"
        case .i32: "<i4"
        case .i16: "<i2"
        case .i8: "|i1"
        case .u64: "<u8"
        case .u32: "<u4"
        case .u16: "<u2"
        case .u8: "|u1"
        case .bool: "|b1"
        }
    }

    /// Reads an `.npy` file (format 1.0, 2.0 or 3.0, little-endian, C or Fortran order). Two-byte
    /// void elements (`<V2`, how ml_dtypes saves bfloat16) are read as bf16.
    public init(npyAt url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw EmberError(.io, "cannot read '\(url.path)': no such file or not readable")
        }
        do {
            try self.init(npy: data)
        } catch let e as EmberError {
            throw e.located("'\(url.path)'")
        }
    }

    public init(npy data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == Self.magic else {
            throw EmberError(.invalidArgument, "not a NumPy .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw EmberError(.invalidArgument, "truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw EmberError(.invalidArgument, ".npy format version \(major) is not supported")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw EmberError(.invalidArgument, "truncated .npy header")
        }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard let descr = Self.headerValue(header, key: "descr"), let order = Self.headerValue(header, key: "fortran_order"),
            let shapeText = Self.headerValue(header, key: "shape")
        else {
            throw EmberError(.invalidArgument, ".npy header is malformed: \(header)")
        }
        let typeString = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        let normalized = typeString.replacingOccurrences(of: "=", with: "<")
        // NumPy has no bfloat16; ml_dtypes' bfloat16 arrays are saved as two-byte voids.
        let dtype: DType
        if normalized == "<V2" || normalized == "|V2" {
            dtype = .bf16
        } else if let match = DType.allCases.first(where: { Self.npyDescr($0) == normalized || Self.npyDescr($0) == normalized.replacingOccurrences(of: "|", with: "<") }) {
            dtype = match
        } else {
            throw EmberError(.unsupported, ".npy element type '\(typeString)' is not supported (big-endian, strings and objects are not)")
        }
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { throw EmberError(.invalidArgument, ".npy shape '\(shapeText)' is malformed") }
            shape.append(v)
        }
        // Absurd dims are refused even when another dim is 0 (no elements): strides and
        // scratch sizes computed later from them would overflow.
        _ = try TensorSize.elementCount(shape, of: "the .npy array")
        let payload = bytes[(headerStart + headerLength)...]
        let fortran = order.trimmingCharacters(in: .whitespaces).hasPrefix("True")
        if fortran {
            let t = try Tensor(dtype, shape: shape.reversed(), bytes: payload)
            self = t.reversingAxes()
        } else {
            try self.init(dtype, shape: shape, bytes: payload)
        }
    }

    /// The value of `key` in the Python dict literal of an .npy header.
    private static func headerValue(_ header: String, key: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return String(rest)
    }

    /// This tensor with its axes in reverse order (Fortran to C order).
    func reversingAxes() -> Tensor {
        let outShape = Array(shape.reversed())
        let inStrides = Tensor.strides(of: shape)
        let n = count
        var indices = [Int](repeating: 0, count: n)
        var index = [Int](repeating: 0, count: outShape.count)
        for i in 0..<n {
            var offset = 0
            for axis in 0..<outShape.count { offset += index[axis] * inStrides[shape.count - 1 - axis] }
            indices[i] = offset
            var axis = outShape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return gathering(indices, shape: outShape)
    }

    /// The tensor as `.npy` bytes (format 1.0). bfloat16 is written as float32, which NumPy reads.
    public func npyData() -> Data {
        let t = dtype == .bf16 ? cast(to: .f32) : self
        let descr = Self.npyDescr(t.dtype) ?? "<f4"
        let shapeText = t.shape.count == 1 ? "(\(t.shape[0]),)" : "(\(t.shape.map(String.init).joined(separator: ", ")))"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data(Self.magic + [1, 0])
        let length = header.utf8.count
        out.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: t.bytes())
        return out
    }
}
