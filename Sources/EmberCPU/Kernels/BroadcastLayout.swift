import EmberIR

/// How several inputs broadcast to one output, with the dims simplified for loops: dims of size 1
/// dropped, and neighbours merged wherever every operand walks them as one. The last dim is the
/// inner loop; each input's stride there is 1 (it varies along it) or 0 (it is repeated).
struct BroadcastLayout {
    /// The simplified output dims, outermost first; at least one.
    var dims: [Int]
    /// Per input, its stride along each simplified dim (0 where it is broadcast).
    var strides: [[Int]]

    /// The layout of `inputs` (nil for inputs that are not read) broadcast to `output`; throws
    /// unless each input broadcasts to exactly `output`.
    init(inputs: [[Int]?], output: [Int], op: String) throws {
        let rank = output.count
        var inputStrides: [[Int]] = []
        for (i, shape) in inputs.enumerated() {
            guard let shape else {
                inputStrides.append(Array(repeating: 0, count: rank))
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
            inputStrides.append(strides)
        }
        // Drop size-1 dims, then merge each dim into the previous one where every input allows.
        var dims: [Int] = []
        var merged: [[Int]] = Array(repeating: [], count: inputs.count)
        for d in 0..<rank where output[d] != 1 {
            let mergeable =
                !dims.isEmpty
                && inputStrides.indices.allSatisfy { i in merged[i][merged[i].count - 1] == inputStrides[i][d] * output[d] }
            if mergeable {
                dims[dims.count - 1] *= output[d]
                for i in inputStrides.indices { merged[i][merged[i].count - 1] = inputStrides[i][d] }
            } else {
                dims.append(output[d])
                for i in inputStrides.indices { merged[i].append(inputStrides[i][d]) }
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
    var inner: Int { dims[dims.count - 1] }
    /// The number of inner rows.
    var rows: Int { dims.dropLast().reduce(1, *) }

    /// Each input's offset at the start of inner row `row`.
    func rowOffsets(_ row: Int, into offsets: inout [Int]) {
        for i in offsets.indices { offsets[i] = 0 }
        var rest = row
        for d in stride(from: dims.count - 2, through: 0, by: -1) {
            let index = rest % dims[d]
            rest /= dims[d]
            for i in offsets.indices { offsets[i] += index * strides[i][d] }
        }
    }
}
