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

/// How several inputs broadcast to one output, with the dims simplified for loops: output dims of
/// size 1 dropped, and neighbours merged wherever every input walks them as one. The last dim is
/// the inner loop. Every backend's broadcasting loops and generated kernels start from this.
public struct BroadcastStrides: Sendable, Equatable {
    /// The simplified output dims, outermost first; at least one.
    public var dims: [Int]
    /// Per input, its stride (in elements) along each simplified dim; 0 where it is broadcast.
    public var strides: [[Int]]

    /// The strides of `inputs` (nil for inputs that are not read) broadcast to `output`; throws
    /// unless each input broadcasts to exactly `output`.
    public init(inputs: [[Int]?], output: [Int], op: String) throws {
        let rank = output.count
        var full: [[Int]] = []
        for (i, shape) in inputs.enumerated() {
            guard let shape else {
                full.append(Array(repeating: 0, count: rank))
                continue
            }
            guard shape.count <= rank else {
                throw EmberError(.shapeMismatch, "[\(op)] input \(i) has shape \(shape), which does not broadcast to \(output)")
            }
            let padded = Array(repeating: 1, count: rank - shape.count) + shape
            let rowMajor = Tensor.strides(of: padded)
            var strides: [Int] = []
            for d in 0..<rank {
                guard padded[d] == output[d] || padded[d] == 1 else {
                    throw EmberError(
                        .shapeMismatch, "[\(op)] input \(i) has shape \(shape), which does not broadcast to \(output)")
                }
                strides.append(padded[d] == 1 ? 0 : rowMajor[d])
            }
            full.append(strides)
        }
        var dims: [Int] = []
        var merged: [[Int]] = Array(repeating: [], count: inputs.count)
        for d in 0..<rank where output[d] != 1 {
            let mergeable =
                !dims.isEmpty && full.indices.allSatisfy { i in merged[i][merged[i].count - 1] == full[i][d] * output[d] }
            if mergeable {
                dims[dims.count - 1] *= output[d]
                for i in full.indices { merged[i][merged[i].count - 1] = full[i][d] }
            } else {
                dims.append(output[d])
                for i in full.indices { merged[i].append(full[i][d]) }
            }
        }
        if dims.isEmpty {
            dims = [1]
            merged = merged.map { _ in [0] }
        }
        self.dims = dims
        self.strides = merged
    }

    /// The length of the inner loop.
    public var inner: Int { dims[dims.count - 1] }
    /// The number of inner rows.
    public var rows: Int { dims.dropLast().reduce(1, *) }

    /// Each input's offset at the start of inner row `row`.
    public func rowOffsets(_ row: Int, into offsets: inout [Int]) {
        for i in offsets.indices { offsets[i] = 0 }
        var rest = row
        for d in stride(from: dims.count - 2, through: 0, by: -1) {
            let index = rest % dims[d]
            rest /= dims[d]
            for i in offsets.indices { offsets[i] += index * strides[i][d] }
        }
    }
}
