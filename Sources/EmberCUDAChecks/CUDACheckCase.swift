import EmberCUDA
import EmberIR
import EmberOps
import EmberTestSupport

/// One op on random inputs, run by the CUDA backend and by the reference backend.
public struct CUDACheckCase: Sendable {
    public var name: String
    public var op: any Operator
    /// nil marks an absent optional input.
    public var inputs: [Tensor?]
    /// The inputs that the node sees as constants (reduction axes).
    public var constantInputs: Set<Int> = []
    /// The largest relative error accepted (largest difference over the largest reference magnitude).
    public var tolerance: Double
    /// Whether f32 products may use tf32.
    public var tf32 = false
    /// Floating-point operations of one run, for matrix products; nil for memory-bound kernels.
    public var flops: Double? = nil
    /// How the device holds the node's 4-D tensors (pools run channels-last between convolutions).
    public var layout: CUDALayout = .rowMajor

    /// The node the CUDA provider sees.
    public func node() throws -> CUDANode {
        let types = inputs.map { $0.map { CUDATensorType($0.dtype, $0.shape, layout: layout) } }
        let constants = inputs.enumerated().map { constantInputs.contains($0.offset) ? $0.element : nil }
        var node = try CUDANode(op: op, name: name, inputs: types, constants: constants)
        node.outputs = node.outputs.map { $0.with(layout) }
        return node
    }

    /// Bytes read and written once each: the floor of a memory-bound kernel.
    public func bytesMoved(output: CUDATensorType) -> Int {
        inputs.compactMap { $0 }.reduce(output.count * output.dtype.byteSize) { $0 + $1.count * $1.dtype.byteSize }
    }
}

/// The cases every CUDA check runs: generated kernels (f32, f16, bf16) and cuBLASLt products.
public enum CUDACheckCases {
    static func random(_ dtype: DType, _ shape: [Int], _ seed: UInt64, in range: ClosedRange<Double> = -2...2) -> Tensor {
        Tensor.random(dtype, shape, in: range, seed: seed)
    }

    static func tolerance(_ dtype: DType) -> Double { dtype == .f32 ? 1e-4 : 1e-2 }

    static func fused(_ steps: [(any Operator, [FusedBody.Operand?])]) throws -> FusedElementwise {
        try FusedElementwise(FusedBody(steps.map { FusedBody.Step(op: $0.0, operands: $0.1) }, op: FusedElementwise.name))
    }

    static func fusedEpilogue(_ steps: [(any Operator, [FusedBody.Operand?])]) throws -> FusedEpilogue {
        try FusedEpilogue(FusedBody(steps.map { FusedBody.Step(op: $0.0, operands: $0.1) }, op: FusedEpilogue.name))
    }

    /// Elementwise ops and fused chains, with broadcasting.
    public static func elementwise(seed: UInt64 = 1) throws -> [CUDACheckCase] {
        var cases: [CUDACheckCase] = []
        for dtype in [DType.f32, .f16, .bf16] {
            let bias = try fused([(Add(), [.input(0), .input(1)]), (Gelu(), [.step(0)])])
            cases.append(CUDACheckCase(
                name: "add+gelu \(dtype) [64,128,768]+[768]", op: bias,
                inputs: [random(dtype, [64, 128, 768], seed), random(dtype, [768], seed + 1)],
                tolerance: tolerance(dtype)))
            let chain = try fused([
                (Mul(), [.input(0), .input(1)]), (Add(), [.step(0), .input(2)]), (Sigmoid(), [.step(1)]),
                (Mul(), [.step(2), .input(0)]),
            ])
            cases.append(CUDACheckCase(
                name: "mul+add+sigmoid+mul \(dtype) [32,1,256]x[64,1]+[]", op: chain,
                inputs: [random(dtype, [32, 1, 256], seed + 2), random(dtype, [64, 1], seed + 3), random(dtype, [], seed + 4)],
                tolerance: tolerance(dtype)))
        }
        cases.append(CUDACheckCase(
            name: "relu f32 [4096,1024]", op: Relu(), inputs: [random(.f32, [4096, 1024], seed + 5)], tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "silu f16 [8192,1024]", op: Silu(), inputs: [random(.f16, [8192, 1024], seed + 6)], tolerance: 1e-2))
        cases.append(CUDACheckCase(
            name: "gelu_tanh f32 [1024,3072]", op: Gelu(approximate: .tanh), inputs: [random(.f32, [1024, 3072], seed + 7)],
            tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "clip f32 [1000,37]", op: Clip(),
            inputs: [random(.f32, [1000, 37], seed + 8), Tensor(scalar: -0.5, .f32), Tensor(scalar: 0.75, .f32)],
            tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "leaky_relu+tanh+cast f32->f16 [333,77]",
            op: try fused([(LeakyRelu(alpha: 0.1), [.input(0)]), (Tanh(), [.step(0)]), (Cast(to: .f16), [.step(1)])]),
            inputs: [random(.f32, [333, 77], seed + 9)], tolerance: 1e-2))
        return cases
    }

    /// Softmax, layer norm and reductions.
    public static func rows(seed: UInt64 = 100) -> [CUDACheckCase] {
        var cases: [CUDACheckCase] = []
        for dtype in [DType.f32, .f16, .bf16] {
            cases.append(CUDACheckCase(
                name: "softmax \(dtype) [4096,1000]", op: Softmax(axis: -1), inputs: [random(dtype, [4096, 1000], seed, in: -8...8)],
                tolerance: tolerance(dtype)))
            cases.append(CUDACheckCase(
                name: "layer_norm \(dtype) [8192,768]", op: LayerNorm(axis: -1, epsilon: 1e-5),
                inputs: [random(dtype, [8192, 768], seed + 1, in: -3...5), random(dtype, [768], seed + 2),
                         random(dtype, [768], seed + 3)],
                tolerance: tolerance(dtype)))
        }
        cases.append(CUDACheckCase(
            name: "softmax f32 axis 1 of [32,128,64]", op: Softmax(axis: 1), inputs: [random(.f32, [32, 128, 64], seed + 4)],
            tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "log_softmax f32 [1024,512]", op: LogSoftmax(axis: -1), inputs: [random(.f32, [1024, 512], seed + 5)],
            tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "layer_norm f16 [4,16,2,512] axis 2, no bias", op: LayerNorm(axis: 2),
            inputs: [random(.f16, [4, 16, 2, 512], seed + 6), random(.f16, [2, 512], seed + 7)], tolerance: 1e-2))
        for dtype in [DType.f32, .f16, .bf16] {
            cases.append(CUDACheckCase(
                name: "rms_norm \(dtype) [2048,128]", op: RMSNorm(axis: -1, epsilon: 1e-6),
                inputs: [random(dtype, [2048, 128], seed + 12, in: -3...5), random(dtype, [128], seed + 13)],
                tolerance: tolerance(dtype)))
        }
        cases.append(CUDACheckCase(
            name: "rms_norm f32 [16,16384] (a row longer than registers hold)", op: RMSNorm(axis: -1),
            inputs: [random(.f32, [16, 16384], seed + 14), random(.f32, [16384], seed + 15)], tolerance: 1e-4))
        let axes = { (a: [Int64]) in Tensor(shape: [a.count], int64s: a) }
        cases.append(CUDACheckCase(
            name: "reduce_sum f32 [4096,1024] axis 1", op: ReduceSum(keepdims: false),
            inputs: [random(.f32, [4096, 1024], seed + 8), axes([1])], constantInputs: [1], tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "reduce_mean f16 [64,512,64] axis 1", op: ReduceMean(keepdims: true),
            inputs: [random(.f16, [64, 512, 64], seed + 9), axes([1])], constantInputs: [1], tolerance: 1e-2))
        cases.append(CUDACheckCase(
            name: "reduce_max f32 [256,64,64] axes 1,2", op: ReduceMax(keepdims: false),
            inputs: [random(.f32, [256, 64, 64], seed + 10), axes([-1, -2])], constantInputs: [1], tolerance: 1e-4))
        cases.append(CUDACheckCase(
            name: "reduce_min bf16 [128,300] axis 0", op: ReduceMin(keepdims: false),
            inputs: [random(.bf16, [128, 300], seed + 11), axes([0])], constantInputs: [1], tolerance: 1e-2))
        return cases
    }

    /// cuBLASLt products: linear, batched matmul and fused epilogues in every precision.
    public static func matmul(seed: UInt64 = 200) throws -> [CUDACheckCase] {
        func flops(_ m: Int, _ n: Int, _ k: Int, batch: Int = 1) -> Double { 2 * Double(batch * m * n * k) }
        var cases: [CUDACheckCase] = []
        cases.append(CUDACheckCase(
            name: "linear+bias f32 [512,1024]x[1024,1024]", op: Linear(),
            inputs: [random(.f32, [512, 1024], seed, in: -1...1), random(.f32, [1024, 1024], seed + 1, in: -1...1),
                     random(.f32, [1024], seed + 2)],
            tolerance: 1e-4, flops: flops(512, 1024, 1024)))
        cases.append(CUDACheckCase(
            name: "linear+bias tf32 [512,1024]x[1024,1024]", op: Linear(),
            inputs: [random(.f32, [512, 1024], seed + 3, in: -1...1), random(.f32, [1024, 1024], seed + 4, in: -1...1),
                     random(.f32, [1024], seed + 5)],
            tolerance: 5e-3, tf32: true, flops: flops(512, 1024, 1024)))
        let relu = try fusedEpilogue([(Linear(), [.input(0), .input(1)]), (Add(), [.step(0), .input(2)]), (Relu(), [.step(1)])])
        cases.append(CUDACheckCase(
            name: "linear+bias+relu f16 [256,1024]x[1024,1024]", op: relu,
            inputs: [random(.f16, [256, 1024], seed + 6, in: -1...1), random(.f16, [1024, 1024], seed + 7, in: -1...1),
                     random(.f16, [1024], seed + 8)],
            tolerance: 1e-2, flops: flops(256, 1024, 1024)))
        let gelu = try fusedEpilogue([
            (MatMul(), [.input(0), .input(1)]), (Add(), [.input(2), .step(0)]), (Gelu(approximate: .tanh), [.step(1)]),
        ])
        cases.append(CUDACheckCase(
            name: "matmul+bias+gelu_tanh bf16 [2,128,768]x[768,1024]", op: gelu,
            inputs: [random(.bf16, [2, 128, 768], seed + 9, in: -1...1), random(.bf16, [768, 1024], seed + 10, in: -1...1),
                     random(.bf16, [1024], seed + 11)],
            tolerance: 1e-2, flops: flops(256, 1024, 768)))
        cases.append(CUDACheckCase(
            name: "batched matmul f16 [16,128,64]x[16,64,128]", op: MatMul(),
            inputs: [random(.f16, [16, 128, 64], seed + 12, in: -1...1), random(.f16, [16, 64, 128], seed + 13, in: -1...1)],
            tolerance: 1e-2, flops: flops(128, 128, 64, batch: 16)))
        cases.append(CUDACheckCase(
            name: "matmul+relu f32 [300,200]x[200,100]",
            op: try fusedEpilogue([(MatMul(), [.input(0), .input(1)]), (Relu(), [.step(0)])]),
            inputs: [random(.f32, [300, 200], seed + 14), random(.f32, [200, 100], seed + 15)],
            tolerance: 1e-4, flops: flops(300, 100, 200)))
        let erfGelu = try fusedEpilogue([
            (Linear(), [.input(0), .input(1)]), (Add(), [.step(0), .input(2)]), (Gelu(), [.step(1)]),
        ])
        cases.append(CUDACheckCase(
            name: "linear+bias, then gelu (erf) in place f16 [256,768]x[768,3072]", op: erfGelu,
            inputs: [random(.f16, [256, 768], seed + 16, in: -1...1), random(.f16, [768, 3072], seed + 17, in: -1...1),
                     random(.f16, [3072], seed + 18)],
            tolerance: 1e-2, flops: flops(256, 3072, 768)))
        let residual = try fusedEpilogue([
            (Linear(), [.input(0), .input(1)]), (Add(), [.step(0), .input(2)]), (Add(), [.step(1), .input(3)]),
            (Relu(), [.step(2)]),
        ])
        cases.append(CUDACheckCase(
            name: "linear+bias, then residual add+relu in place f32 [384,256]x[256,512]", op: residual,
            inputs: [random(.f32, [384, 256], seed + 19), random(.f32, [256, 512], seed + 20), random(.f32, [512], seed + 21),
                     random(.f32, [384, 512], seed + 22)],
            tolerance: 1e-4, flops: flops(384, 512, 256)))
        return cases
    }

    /// Every case.
    public static func all() throws -> [CUDACheckCase] {
        try elementwise() + rows() + matmul() + typed() + copies() + pools() + gemm() + attention()
    }

    static func ints(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], int64s: values.map(Int64.init)) }

    /// Elementwise chains and single ops over i64, i32 and bool: BERT's attention mask, casts
    /// between every pair of kernel dtypes, `where` and comparisons. Exact results expected,
    /// except where a float is rounded to f16 or bf16.
    public static func typed(seed: UInt64 = 400) throws -> [CUDACheckCase] {
        var cases: [CUDACheckCase] = []
        // mask[b, s] in {0, 1} and a position threshold, to an additive f32 mask [b, 1, s, s].
        let mask = try fused([
            (Cast(to: .bool), [.input(0)]), (GreaterOrEqual(), [.input(1), .input(2)]), (And(), [.step(0), .step(1)]),
            (Where(), [.step(2), .input(3), .input(4)]),
        ])
        cases.append(CUDACheckCase(
            name: "bert mask cast+greater_or_equal+and+where i64->f32 [2,1,1,128],[1,1,128,1]",
            op: mask,
            inputs: [random(.i64, [2, 1, 1, 128], seed, in: 0...1), random(.i64, [1, 1, 128, 1], seed + 1, in: 0...127),
                     Tensor(shape: [], int64s: [40]), Tensor(scalar: 0, .f32), Tensor(scalar: -3.4e38, .f32)],
            tolerance: 0))
        // BERT's export as Ember fuses it: a query-position test, and-ed with the padding mask.
        let bert = try fused([
            (GreaterOrEqual(), [.input(0), .input(1)]), (And(), [.step(0), .input(2)]), (Where(), [.step(1), .input(3), .input(4)]),
        ])
        cases.append(CUDACheckCase(
            name: "bert mask greater_or_equal+and+where i64,bool->f32 [1,1,128,1],[],[2,1,1,128]", op: bert,
            inputs: [random(.i64, [1, 1, 128, 1], seed + 2, in: 0...127), Tensor(shape: [], int64s: [0]),
                     random(.bool, [2, 1, 1, 128], seed + 3), Tensor(scalar: 0, .f32), Tensor(scalar: -3.4e38, .f32)],
            tolerance: 0))
        let pairs: [(DType, DType, [Int])] = [
            (.f32, .i64, [1000, 37]), (.f32, .i32, [4099]), (.i64, .f16, [4096]), (.i64, .f32, [2, 128]),
            (.bool, .f32, [2, 1, 1, 128]), (.f16, .bf16, [8, 1000]), (.bf16, .f16, [777]), (.i32, .i64, [513]),
            (.i64, .bool, [2, 128]), (.f32, .bool, [301]), (.i64, .i32, [64]), (.bool, .i64, [99]),
        ]
        for (k, (from, to, shape)) in pairs.enumerated() {
            let range: ClosedRange<Double> = from == .bool ? -1...1 : from.isFloatingPoint && to.isFloatingPoint ? -2...2 : -3...3
            cases.append(CUDACheckCase(
                name: "cast \(from)->\(to) \(shape)", op: Cast(to: to),
                inputs: [random(from, shape, seed + 10 + UInt64(k), in: range)],
                tolerance: [.f16, .bf16].contains(to) && ![.f16, .bf16].contains(from) ? tolerance(to) : 0))
        }
        for dtype in [DType.f16, .i64] {
            cases.append(CUDACheckCase(
                name: "where \(dtype) [2,1,1,128]?[2,12,128,128]:[]", op: Where(),
                inputs: [random(.bool, [2, 1, 1, 128], seed + 30), random(dtype, [2, 12, 128, 128], seed + 31, in: -100...100),
                         random(dtype, [], seed + 32, in: -100...100)],
                tolerance: 0))
        }
        cases.append(CUDACheckCase(
            name: "greater_or_equal f32 [33,65]>=[65]", op: GreaterOrEqual(),
            inputs: [random(.f32, [33, 65], seed + 40), random(.f32, [65], seed + 41)], tolerance: 0))
        cases.append(CUDACheckCase(
            name: "equal i32 [7,9]", op: Equal(),
            inputs: [random(.i32, [7, 9], seed + 42, in: 0...3), random(.i32, [7, 9], seed + 43, in: 0...3)], tolerance: 0))
        cases.append(CUDACheckCase(
            name: "sub+mul i64 [3,5]-[5]*[]",
            op: try fused([(Sub(), [.input(0), .input(1)]), (Mul(), [.step(0), .input(2)])]),
            inputs: [random(.i64, [3, 5], seed + 44, in: -1000...1000), random(.i64, [5], seed + 45, in: -1000...1000),
                     random(.i64, [], seed + 46, in: -9...9)],
            tolerance: 0))
        cases.append(CUDACheckCase(
            name: "not+or bool [129]", op: try fused([(Not(), [.input(0)]), (Or(), [.step(0), .input(1)])]),
            inputs: [random(.bool, [129], seed + 47), random(.bool, [129], seed + 48)], tolerance: 0))
        return cases
    }

    /// Copies of any dtype, exact: transposes (tiled where the last dim moves), slices, expands,
    /// concatenations, gathers and element gathers, with the shapes of BERT and ViT and odd ones;
    /// and cumulative sums (position ids from a mask, and float ones within rounding).
    public static func copies(seed: UInt64 = 500) throws -> [CUDACheckCase] {
        var cases: [CUDACheckCase] = []
        let transposes: [(DType, [Int], [Int]?)] = [
            (.f16, [2, 128, 12, 64], [0, 2, 1, 3]),  // BERT's heads
            (.f32, [2, 768, 196], [0, 2, 1]),  // ViT's patches
            (.bf16, [2, 12, 197, 64], [2, 0, 1, 3]),  // ViT's attention output
            (.f32, [1, 197, 2, 3, 768], [3, 1, 2, 0, 4]),  // ViT's q, k, v split
            (.f32, [197, 2, 768], [1, 0, 2]),
            (.f16, [4, 64, 64], [0, 2, 1]),
            (.i64, [3, 5, 7], nil),
            (.bool, [33, 65], [1, 0]),
            (.i32, [2, 3, 37, 41], [0, 3, 1, 2]),
        ]
        for (k, (dtype, shape, perm)) in transposes.enumerated() {
            cases.append(CUDACheckCase(
                name: "transpose \(dtype) \(shape) perm \(perm.map { "\($0)" } ?? "reversed")", op: Transpose(perm: perm),
                inputs: [random(dtype, shape, seed + UInt64(k), in: -100...100)], tolerance: 0))
        }
        let slices: [(DType, [Int], [Int], [Int], [Int], [Int])] = [
            (.f32, [2, 197, 768], [0], [1], [1], [1]),  // ViT's class token
            (.f16, [8, 10, 33], [-1, 2], [-100, 9], [2, 1], [-2, 3]),
            (.i32, [5, 17], [1], [Int(Int64.max)], [-1], [1]),
            (.bf16, [4, 6, 64], [0, 16], [4, 48], [0, 2], [2, 1]),
        ]
        for (k, (dtype, shape, starts, ends, axes, steps)) in slices.enumerated() {
            cases.append(CUDACheckCase(
                name: "slice \(dtype) \(shape) starts \(starts) ends \(ends) axes \(axes) steps \(steps)", op: SliceOp(),
                inputs: [random(dtype, shape, seed + 20 + UInt64(k), in: -100...100), ints(starts), ints(ends), ints(axes), ints(steps)],
                constantInputs: [1, 2, 3, 4], tolerance: 0))
        }
        let expands: [(DType, [Int], [Int])] = [
            (.f32, [1, 1, 768], [2, 1, 768]), (.i64, [2, 1, 1, 128], [2, 1, 128, 128]), (.bf16, [3, 1], [2, 3, 5]),
            (.f16, [1, 64], [300, 64]),
        ]
        for (k, (dtype, shape, target)) in expands.enumerated() {
            cases.append(CUDACheckCase(
                name: "expand \(dtype) \(shape) to \(target)", op: Expand(),
                inputs: [random(dtype, shape, seed + 30 + UInt64(k), in: -100...100), ints(target)], constantInputs: [1],
                tolerance: 0))
        }
        let concats: [(DType, [[Int]], Int)] = [
            (.f32, [[2, 1, 768], [2, 196, 768]], 1), (.f16, [[4, 3, 5], [4, 2, 5], [4, 1, 5]], -2), (.i64, [[3], [2]], 0),
            (.bf16, [[2, 64, 7], [2, 64, 9]], 2),
        ]
        for (k, (dtype, shapes, axis)) in concats.enumerated() {
            cases.append(CUDACheckCase(
                name: "concat \(dtype) \(shapes) axis \(axis)", op: Concat(axis: axis),
                inputs: shapes.enumerated().map { random(dtype, $0.element, seed + 40 + UInt64(k * 8 + $0.offset), in: -100...100) },
                tolerance: 0))
        }
        let gathers: [(DType, [Int], DType, [Int], Int)] = [
            (.f16, [30522, 768], .i64, [2, 128], 0),  // BERT's word embeddings
            (.f32, [512, 768], .i64, [1, 128], 0),  // position embeddings
            (.f32, [2, 197, 768], .i64, [], 1),  // ViT's class token
            (.f32, [3, 197, 2, 768], .i64, [], 0),  // ViT's q, k, v
            (.bf16, [7, 13, 5], .i32, [4], 1),
            (.i64, [3], .i64, [], 0),
            (.bool, [9, 3], .i32, [2, 2], -2),
            (.bool, [256, 1], .i64, [2, 1, 1, 128], 0),  // BERT's padding mask, picked per position
        ]
        for (k, (dtype, shape, indexType, indexShape, axis)) in gathers.enumerated() {
            let a = axis < 0 ? axis + shape.count : axis
            let size = Double(shape[a])
            cases.append(CUDACheckCase(
                name: "gather \(dtype) \(shape) by \(indexType) \(indexShape) axis \(axis)", op: Gather(axis: axis),
                inputs: [random(dtype, shape, seed + 60 + UInt64(k), in: -100...100),
                         random(indexType, indexShape, seed + 70 + UInt64(k), in: -size...(size - 1))],
                tolerance: 0))
        }
        let elementGathers: [(DType, [Int], DType, [Int], Int)] = [
            (.i64, [1, 514], .i64, [1, 128], 1),  // RoBERTa's position ids, picked per token
            (.f32, [4, 7, 5], .i64, [4, 3, 5], 1),
            (.f16, [2, 9], .i32, [2, 9], -1),
            (.bf16, [6, 3, 2], .i64, [2, 3, 1], 0),
        ]
        for (k, (dtype, shape, indexType, indexShape, axis)) in elementGathers.enumerated() {
            let a = axis < 0 ? axis + shape.count : axis
            let size = Double(shape[a])
            cases.append(CUDACheckCase(
                name: "gather_elements \(dtype) \(shape) by \(indexType) \(indexShape) axis \(axis)",
                op: GatherElements(axis: axis),
                inputs: [random(dtype, shape, seed + 80 + UInt64(k), in: -100...100),
                         random(indexType, indexShape, seed + 90 + UInt64(k), in: -size...(size - 1))],
                tolerance: 0))
        }
        let sums: [(DType, [Int], Int, Bool, Bool, Double)] = [
            (.i64, [2, 128], 1, false, false, 0),  // position ids from an attention mask
            (.i32, [3, 40], -1, true, false, 0),
            (.f32, [3, 5, 7], 1, false, true, 1e-5),
            (.f16, [4, 33], -1, true, true, 1e-2),
        ]
        for (k, (dtype, shape, axis, exclusive, reverse, tolerance)) in sums.enumerated() {
            let range: ClosedRange<Double> = dtype.isFloatingPoint ? -1...1 : 0...1
            cases.append(CUDACheckCase(
                name: "cum_sum \(dtype) \(shape) axis \(axis)\(exclusive ? " exclusive" : "")\(reverse ? " reverse" : "")",
                op: CumSum(exclusive: exclusive, reverse: reverse),
                inputs: [random(dtype, shape, seed + 100 + UInt64(k), in: range), ints([axis])], constantInputs: [1],
                tolerance: tolerance))
        }
        return cases
    }

    static func poolAttributes(
        _ op: String, kernel: [Int], strides: [Int] = [], pads: [Int] = [], dilations: [Int] = [], ceil: Bool = false,
        autoPad: String = "NOTSET", includePad: Bool? = nil
    ) -> Attributes {
        var entries: [(String, Attribute)] = [
            ("kernel_shape", .ints(kernel)), ("strides", .ints(strides)), ("pads", .ints(pads)), ("dilations", .ints(dilations)),
            ("ceil_mode", .int(ceil ? 1 : 0)), ("auto_pad", .string(autoPad)),
        ]
        if let includePad { entries.append(("count_include_pad", .int(includePad ? 1 : 0))) }
        return Attributes(op: op, entries)
    }

    /// Pools on channels-last tensors (as between convolutions) and row-major ones: ResNet's
    /// stem max pool and global average pool, and windows with ceil mode, dilations, uneven
    /// pads and counts that include the padding.
    public static func pools(seed: UInt64 = 600) throws -> [CUDACheckCase] {
        var cases: [CUDACheckCase] = []
        let stem = try MaxPool(attributes: poolAttributes(MaxPool.name, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1]))
        for dtype in [DType.f32, .f16, .bf16] {
            cases.append(CUDACheckCase(
                name: "max_pool 3x3/2 pad 1 \(dtype) [2,64,112,112] channels-last", op: stem,
                inputs: [random(dtype, [2, 64, 112, 112], seed)], tolerance: tolerance(dtype), layout: .channelsLast))
            cases.append(CUDACheckCase(
                name: "global_average_pool \(dtype) [2,2048,7,7] channels-last", op: GlobalAveragePool(),
                inputs: [random(dtype, [2, 2048, 7, 7], seed + 1)], tolerance: tolerance(dtype), layout: .channelsLast))
        }
        let odd = try MaxPool(attributes: poolAttributes(
            MaxPool.name, kernel: [3, 2], strides: [2, 3], pads: [1, 0, 2, 1], dilations: [2, 1], ceil: true))
        let average = { (include: Bool, ceil: Bool) in
            try AveragePool(attributes: poolAttributes(
                AveragePool.name, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil: ceil, includePad: include))
        }
        let rectangle = try AveragePool(attributes: poolAttributes(
            AveragePool.name, kernel: [2, 3], strides: [2, 2], pads: [1, 0, 0, 1], includePad: true))
        let same = try MaxPool(attributes: poolAttributes(MaxPool.name, kernel: [3, 3], strides: [2, 2], autoPad: "SAME_UPPER"))
        let more: [(String, any Operator, DType, [Int], CUDALayout)] = [
            ("max_pool 3x2/2,3 dilations 2,1 pads 1,0,2,1 ceil f32 [2,3,17,19]", odd, .f32, [2, 3, 17, 19], .channelsLast),
            ("max_pool 3x2/2,3 dilations 2,1 pads 1,0,2,1 ceil f16 [2,16,17,19]", odd, .f16, [2, 16, 17, 19], .channelsLast),
            ("average_pool 3x3/2 pad 1 f16 [2,32,14,14]", try average(false, false), .f16, [2, 32, 14, 14], .channelsLast),
            ("average_pool 3x3/2 pad 1 count_include_pad ceil f32 [2,24,10,10]", try average(true, true), .f32, [2, 24, 10, 10], .channelsLast),
            ("average_pool 3x3/2 pad 1 ceil bf16 [1,8,10,10]", try average(false, true), .bf16, [1, 8, 10, 10], .channelsLast),
            ("average_pool 2x3/2 pads 1,0,0,1 count_include_pad f32 [2,5,11,13]", rectangle, .f32, [2, 5, 11, 13], .rowMajor),
            ("max_pool 3x3/2 SAME_UPPER f32 [1,8,10,10]", same, .f32, [1, 8, 10, 10], .rowMajor),
            ("max_pool 3x3/2 SAME_UPPER f16 [1,8,10,10]", same, .f16, [1, 8, 10, 10], .channelsLast),
            ("global_average_pool f32 [2,2048,7,7]", GlobalAveragePool(), .f32, [2, 2048, 7, 7], .rowMajor),
            ("global_average_pool bf16 [3,5,4,6]", GlobalAveragePool(), .bf16, [3, 5, 4, 6], .channelsLast),
            ("global_max_pool f32 [2,64,9,9]", GlobalMaxPool(), .f32, [2, 64, 9, 9], .channelsLast),
        ]
        for (k, (name, op, dtype, shape, layout)) in more.enumerated() {
            cases.append(CUDACheckCase(
                name: name + (layout == .channelsLast ? " channels-last" : ""), op: op,
                inputs: [random(dtype, shape, seed + 10 + UInt64(k))], tolerance: tolerance(dtype), layout: layout))
        }
        return cases
    }

    /// ONNX gemm on cuBLASLt: ResNet's and ViT's classifiers (W transposed, bias C), A
    /// transposed, and a full C added after the product.
    public static func gemm(seed: UInt64 = 700) throws -> [CUDACheckCase] {
        func flops(_ m: Int, _ n: Int, _ k: Int) -> Double { 2 * Double(m * n * k) }
        return [
            CUDACheckCase(
                name: "gemm transB f16 [2,2048]x[1000,2048]+[1000]", op: Gemm(transB: true),
                inputs: [random(.f16, [2, 2048], seed, in: -1...1), random(.f16, [1000, 2048], seed + 1, in: -0.1...0.1),
                         random(.f16, [1000], seed + 2)],
                tolerance: 1e-2, flops: flops(2, 1000, 2048)),
            CUDACheckCase(
                name: "gemm transB f32 [394,768]x[768,768]+[768]", op: Gemm(transB: true),
                inputs: [random(.f32, [394, 768], seed + 3, in: -1...1), random(.f32, [768, 768], seed + 4, in: -1...1),
                         random(.f32, [768], seed + 5)],
                tolerance: 1e-4, flops: flops(394, 768, 768)),
            CUDACheckCase(
                name: "gemm transA f32 [64,32]'x[64,48]+[32,48]", op: Gemm(transA: true),
                inputs: [random(.f32, [64, 32], seed + 6), random(.f32, [64, 48], seed + 7), random(.f32, [32, 48], seed + 8)],
                tolerance: 1e-4, flops: flops(32, 48, 64)),
            CUDACheckCase(
                name: "gemm transA transB bf16 [96,40]'x[24,96]'+[1,24]", op: Gemm(transA: true, transB: true),
                inputs: [random(.bf16, [96, 40], seed + 9, in: -1...1), random(.bf16, [24, 96], seed + 10, in: -1...1),
                         random(.bf16, [1, 24], seed + 11)],
                tolerance: 1e-2, flops: flops(40, 24, 96)),
            CUDACheckCase(
                name: "gemm f32 [50,30]x[30,20]+[50,1]", op: Gemm(),
                inputs: [random(.f32, [50, 30], seed + 12), random(.f32, [30, 20], seed + 13), random(.f32, [50, 1], seed + 14)],
                tolerance: 1e-4, flops: flops(50, 20, 30)),
            CUDACheckCase(
                name: "gemm beta 0 f16 [8,64]x[64,16]", op: Gemm(beta: 0),
                inputs: [random(.f16, [8, 64], seed + 15, in: -1...1), random(.f16, [64, 16], seed + 16, in: -1...1),
                         random(.f16, [16], seed + 17)],
                tolerance: 1e-2, flops: flops(8, 16, 64)),
        ]
    }
}
