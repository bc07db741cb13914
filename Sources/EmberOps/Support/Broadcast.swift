import EmberIR

/// NumPy broadcasting, for concrete shapes and for symbolic dims.
public enum Broadcast {
    /// The broadcast of two concrete shapes, or an error naming both.
    public static func shape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        return try zip(pa, pb).map { x, y in
            if x == y || y == 1 { return x }
            if x == 1 { return y }
            throw EmberError(.shapeMismatch, "[\(op)] shapes \(a) and \(b) cannot be broadcast together")
        }
    }

    public static func shape(_ shapes: [[Int]], op: String) throws -> [Int] {
        try shapes.reduce([]) { try shape($0, $1, op: op) }
    }

    /// The broadcast of two symbolic shapes. A symbol against 1 stays the symbol; two different
    /// symbols give an unknown dim, since either could be 1.
    public static func dims(_ a: [Dim]?, _ b: [Dim]?, op: String) throws -> [Dim]? {
        guard let a, let b else { return nil }
        let rank = max(a.count, b.count)
        let pa = [Dim](repeating: .known(1), count: rank - a.count) + a
        let pb = [Dim](repeating: .known(1), count: rank - b.count) + b
        return try zip(pa, pb).map { x, y in
            switch (x, y) {
            case (.known(let p), .known(let q)):
                if p == q || q == 1 { return x }
                if p == 1 { return y }
                throw EmberError(.shapeMismatch, "[\(op)] shapes \(a) and \(b) cannot be broadcast together")
            case (.known(1), _): return y
            case (_, .known(1)): return x
            case (.known, _): return x
            case (_, .known): return y
            default: return x == y ? x : .unknown
            }
        }
    }

    public static func dims(_ shapes: [[Dim]?], op: String) throws -> [Dim]? {
        guard var result = shapes.first else { return [] }
        for s in shapes.dropFirst() { result = try dims(result, s, op: op) }
        return result
    }

    /// For each element of `output` (row-major), the flat index of the element of `input` it reads,
    /// where `input` broadcasts to `output`.
    public static func indices(from input: [Int], to output: [Int]) -> [Int] {
        let count = Tensor.elementCount(output) ?? 0
        if input == output { return Array(0..<count) }
        let rank = output.count
        let padded = [Int](repeating: 1, count: rank - input.count) + input
        let inStrides = Tensor.strides(of: padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
        var result = [Int](repeating: 0, count: count)
        guard count > 0 else { return result }
        var index = [Int](repeating: 0, count: rank)
        var offset = 0
        for i in 0..<count {
            result[i] = offset
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                offset += inStrides[axis]
                if index[axis] < output[axis] { break }
                offset -= inStrides[axis] * index[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}
