import EmberIR
import EmberOps
import Foundation

/// Runs an `ElementwiseProgram` over the output in tiles of up to `tile` elements of one inner row:
/// each instruction runs over the whole tile before the next, so the dispatch costs little and
/// every loop is a plain vector loop. Inputs that vary along the inner row are read in place;
/// inputs repeated along it are splatted into a tile once per row. Intermediate results live in
/// the context's scratch memory, one tile per register and thread.
struct ElementwiseKernel: CPUKernel {
    let program: ElementwiseProgram
    let node: KernelNode
    static let tile = 512

    func run(_ inputs: [TensorView?], _ outputs: [TensorView], _ context: KernelContext) throws {
        guard let output = outputs.first, output.dtype == .f32 else {
            throw node.error(.typeMismatch, "expected an f32 output")
        }
        var shapes: [[Int]?] = []
        var bases: [UnsafeMutablePointer<Float>?] = []
        for i in 0..<program.inputCount {
            guard program.inputUsed[i] else {
                shapes.append(nil)
                bases.append(nil)
                continue
            }
            let view = try inputs.required(i, node.op.name)
            guard view.dtype == .f32 else { throw node.error(.typeMismatch, "input \(i) has dtype \(view.dtype), expected f32") }
            shapes.append(view.shape)
            bases.append(view.floats)
        }
        let layout = try BroadcastStrides(inputs: shapes, output: output.shape, op: node.op.name)
        for i in 0..<program.inputCount where bases[i] == output.floats && shapes[i] != output.shape {
            throw node.error(.invalidArgument, "the output shares input \(i)'s buffer, but that input is broadcast")
        }
        guard output.count > 0 else { return }
        let tile = Self.tile
        let tilesPerRow = (layout.inner + tile - 1) / tile
        let items = layout.rows * tilesPerRow
        let chunks = chunkCount(items, itemCost: min(layout.inner, tile) * program.instructions.count)
        let floatsPerChunk = program.registerCount * tile
        let scratch = context.scratch(bytes: chunks * floatsPerChunk * MemoryLayout<Float>.stride)
        let shared = Shared((bases, output.floats, scratch.assumingMemoryBound(to: Float.self)))
        Parallel.forEach(chunks) { range in
            let (bases, out, scratch) = shared.value
            for chunk in range {
                runItems(
                    (items * chunk / chunks)..<(items * (chunk + 1) / chunks), layout: layout, bases: bases, output: out,
                    scratch: scratch + chunk * floatsPerChunk)
            }
        }
    }

    /// Tiles `items` (row-major over rows, then tiles of a row) with one thread's scratch.
    private func runItems(
        _ items: Range<Int>, layout: BroadcastStrides, bases: [UnsafeMutablePointer<Float>?],
        output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>
    ) {
        let tile = Self.tile
        let inner = layout.inner
        let tilesPerRow = (inner + tile - 1) / tile
        var registers = (0..<program.registerCount).map { scratch + $0 * tile }
        let buffers = registers
        for (r, value) in program.constants { buffers[r].update(repeating: value, count: tile) }
        var offsets = [Int](repeating: 0, count: program.inputCount)
        var splatted = [Int](repeating: -1, count: program.inputCount)
        var currentRow = -1
        for item in items {
            let row = item / tilesPerRow
            let start = (item % tilesPerRow) * tile
            let count = min(tile, inner - start)
            if row != currentRow {
                layout.rowOffsets(row, into: &offsets)
                currentRow = row
            }
            for i in 0..<program.inputCount {
                guard let base = bases[i] else { continue }
                if layout.strides[i][layout.dims.count - 1] == 1 || inner == 1 {
                    registers[i] = base + offsets[i] + start
                } else if splatted[i] != offsets[i] {
                    buffers[i].update(repeating: base[offsets[i]], count: tile)
                    splatted[i] = offsets[i]
                    registers[i] = buffers[i]
                }
            }
            registers[program.outputRegister] = output + row * inner + start
            for instruction in program.instructions {
                switch instruction {
                case .unary(let f, let dst, let src):
                    Self.apply(f, registers[src], registers[dst], count)
                case .binary(let f, let dst, let a, let b):
                    Self.apply(f, registers[a], registers[b], registers[dst], count)
                case .select(let c, let dst, let lhs, let rhs, let then, let otherwise):
                    Self.select(c, registers[lhs], registers[rhs], registers[then], registers[otherwise], registers[dst], count)
                }
            }
        }
    }

    // MARK: The functions

    typealias M = VectorMath

    static func apply(_ f: UnaryFunction, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        switch f {
        case .copy: if x != y { y.update(from: x, count: n) }
        case .primitive(let p): apply(p, x, y, n)
        case .affine(let scale, let offset, let low, let high):
            if scale == 1, offset == 0 {
                VectorLoops.map(x, y, n) { v in clamp(v, low, high) }
            } else {
                VectorLoops.map(x, y, n) { v in clamp(v * scale + offset, low, high) }
            }
        case .reciprocal: VectorLoops.map(x, y, n) { 1 / $0 }
        // Plain loops, which the compiler turns into vector square roots.
        case .reciprocalSqrt: for i in 0..<n { y[i] = 1 / x[i].squareRoot() }
        case .square: VectorLoops.map(x, y, n) { $0 * $0 }
        case .cube: VectorLoops.map(x, y, n) { $0 * $0 * $0 }
        case .power(let e):
            let exponent = Double(e)
            for i in 0..<n { y[i] = Float(Foundation.pow(Double(x[i]), exponent)) }
        }
    }

    /// The primitive functions: vector approximations where Ember has one, else libm in `Double`
    /// rounded once.
    static func apply(_ f: ScalarFunction, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        switch f {
        case .neg: VectorLoops.map(x, y, n) { -$0 }
        case .abs: VectorLoops.map(x, y, n) { M.abs($0) }
        case .sign: VectorLoops.map(x, y, n) { v in v.replacing(with: 1, where: v .> 0).replacing(with: -1, where: v .< 0) }
        // Plain loops, which the compiler turns into vector square roots and roundings.
        case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
        case .floor: for i in 0..<n { y[i] = x[i].rounded(.down) }
        case .ceil: for i in 0..<n { y[i] = x[i].rounded(.up) }
        case .round: for i in 0..<n { y[i] = x[i].rounded(.toNearestOrEven) }
        case .exp: VectorLoops.map(x, y, n) { M.exp($0) }
        case .expm1: VectorLoops.map(x, y, n) { M.expm1($0) }
        case .log: VectorLoops.map(x, y, n) { M.log($0) }
        case .erf: VectorLoops.map(x, y, n) { M.erf($0) }
        case .erfc: VectorLoops.map(x, y, n) { M.onePlusErf(-$0) }
        case .tanh: VectorLoops.map(x, y, n) { M.tanh($0) }
        case .sigmoid: VectorLoops.map(x, y, n) { M.sigmoid($0) }
        case .softplus:
            VectorLoops.map(x, y, n) { v in v.replacing(with: 0, where: v .< 0) + M.log1p(M.exp(-M.abs(v))) }
        case .log1p, .sin, .cos, .tan, .asin, .acos, .atan, .sinh, .cosh, .asinh, .acosh, .atanh:
            for i in 0..<n { y[i] = Float(f(Double(x[i]))) }
        }
    }

    static func apply(
        _ f: ScalarOperation, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
        _ y: UnsafeMutablePointer<Float>, _ n: Int
    ) {
        switch f {
        case .add: VectorLoops.map(a, b, y, n) { $0 + $1 }
        case .sub: VectorLoops.map(a, b, y, n) { $0 - $1 }
        case .mul: VectorLoops.map(a, b, y, n) { $0 * $1 }
        case .div: VectorLoops.map(a, b, y, n) { $0 / $1 }
        // NaN wins, as in the reference.
        case .max: VectorLoops.map(a, b, y, n) { p, q in p.replacing(with: q, where: (p .< q) .| (q .!= q)) }
        case .min: VectorLoops.map(a, b, y, n) { p, q in p.replacing(with: q, where: (q .< p) .| (q .!= q)) }
        case .pow:
            for i in 0..<n { y[i] = Float(Foundation.pow(Double(a[i]), Double(b[i]))) }
        }
    }

    static func select(
        _ c: ScalarComparison, _ lhs: UnsafeMutablePointer<Float>, _ rhs: UnsafeMutablePointer<Float>,
        _ then: UnsafeMutablePointer<Float>, _ otherwise: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
        _ n: Int
    ) {
        // Plain loops, which the compiler turns into vector compares and blends.
        switch c {
        case .less: for i in 0..<n { y[i] = lhs[i] < rhs[i] ? then[i] : otherwise[i] }
        case .lessOrEqual: for i in 0..<n { y[i] = lhs[i] <= rhs[i] ? then[i] : otherwise[i] }
        case .greater: for i in 0..<n { y[i] = lhs[i] > rhs[i] ? then[i] : otherwise[i] }
        case .greaterOrEqual: for i in 0..<n { y[i] = lhs[i] >= rhs[i] ? then[i] : otherwise[i] }
        }
    }

    /// `v` limited to `[low, high]`; NaN stays NaN.
    @inline(__always) static func clamp(_ v: FloatVector, _ low: Float, _ high: Float) -> FloatVector {
        let above = v.replacing(with: low, where: v .< low)
        return above.replacing(with: high, where: above .> high)
    }
}
