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

    /// The node the CUDA provider sees.
    public func node() throws -> CUDANode {
        let types = inputs.map { $0.map { CUDATensorType($0.dtype, $0.shape) } }
        let constants = inputs.enumerated().map { constantInputs.contains($0.offset) ? $0.element : nil }
        return try CUDANode(op: op, name: name, inputs: types, constants: constants)
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
    public static func all() throws -> [CUDACheckCase] { try elementwise() + rows() + matmul() + attention() }
}
