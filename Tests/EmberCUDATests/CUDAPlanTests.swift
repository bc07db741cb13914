@testable import EmberCUDA
import EmberIR
import EmberOps
import Testing

/// What the provider decides without a device: which nodes run, why others do not, and the
/// shape of the code it writes.
@Suite struct CUDAPlanTests: PlanReading {
    func plan(_ op: any Operator, _ inputs: [CUDATensorType?], constants: [Tensor?]? = nil) throws -> Result<CUDAKernelPlan, EmberError> {
        CUDAKernelPlan.plan(try CUDANode(op: op, name: "n", inputs: inputs, constants: constants), multiprocessors: 132)
    }

    func source(_ r: Result<CUDAKernelPlan, EmberError>) -> String? { kernel(r)?.source }

    @Test func sameShapeInputsReadAtTheOutputIndex() throws {
        // 15 elements: no whole 16-byte groups, so one element per step, no coordinates.
        let s = try #require(source(try plan(Add(), [CUDATensorType(.f32, [3, 5]), CUDATensorType(.f32, [3, 5])])))
        #expect(s.contains("float v0 = in0[i];"))
        #expect(s.contains("float v1 = in1[i];"))
        #expect(!s.contains("r %"))  // merged to one dim: no coordinates
    }

    @Test func contiguousInputsUse16ByteAccesses() throws {
        let f32 = try #require(source(try plan(Add(), [CUDATensorType(.f32, [4, 5, 6]), CUDATensorType(.f32, [])])))
        #expect(f32.contains("uint4 q0_0 = reinterpret_cast<const uint4 *>(in0 + i)[0];"))
        #expect(f32.contains("float v1 = in1[0];"))
        #expect(f32.contains("g < 30u"))
        let f16 = try #require(source(try plan(Silu(), [CUDATensorType(.f16, [64])])))
        #expect(f16.contains("g < 8u"))
        #expect(f16.contains("ember_h2f((unsigned short)(q0_0.x >> 16))"))
    }

    @Test func broadcastInputsUseCoordinates() throws {
        // Rows of 12 f16 hold no whole 8-element group: one element per step.
        let s = try #require(source(try plan(Mul(), [CUDATensorType(.f16, [8, 12]), CUDATensorType(.f16, [12])])))
        #expect(s.contains("ember_h2f(in1[c1 * 1u])"))
        #expect(s.contains("out[i] = ember_f2h(s0);"))
        // Rows of 16 do: the bias row is read 8 elements at a time at the group's coordinates.
        let v = try #require(source(try plan(Mul(), [CUDATensorType(.f16, [8, 16]), CUDATensorType(.f16, [16])])))
        #expect(v.contains("reinterpret_cast<const uint4 *>(in1 + c1 * 1u)[0]"))
        // A column [8, 1] is one value per group.
        let c = try #require(source(try plan(Mul(), [CUDATensorType(.f32, [8, 16]), CUDATensorType(.f32, [8, 1])])))
        #expect(c.contains("float v1 = in1[c0 * 1u];"))
    }

    @Test func unsupportedNodesSayWhy() throws {
        let axes = Tensor(shape: [2], int64s: [0, 2])
        let gap = try plan(
            ReduceSum(keepdims: false), [CUDATensorType(.f32, [2, 3, 4]), CUDATensorType(.i64, [2])],
            constants: [nil, axes])
        #expect(reason(gap)?.contains("not one contiguous run") == true)
        let doubles = try plan(Add(), [CUDATensorType(.f64, [3]), CUDATensorType(.f64, [3])])
        #expect(reason(doubles)?.contains("f64") == true)
        let erf = try plan(Gelu(), [CUDATensorType(.f32, [3])])
        #expect(reason(erf) == nil)
        let epilogue = try FusedEpilogue(FusedBody(
            [.init(op: MatMul(), operands: [.input(0), .input(1)]), .init(op: Gelu(), operands: [.step(0)])],
            op: FusedEpilogue.name))
        let conv = try FusedEpilogue(FusedBody(
            [.init(op: try Conv(attributes: Attributes(op: "conv")), operands: [.input(0), .input(1)]), .init(op: Relu(), operands: [.step(0)])],
            op: FusedEpilogue.name))
        let convPlan = try plan(conv, [CUDATensorType(.f32, [1, 2, 5, 5]), CUDATensorType(.f32, [3, 2, 3, 3])])
        // Convolutions run on cuDNN, which takes channels-last tensors (CUDAConvPlanTests).
        #expect(reason(convPlan)?.contains("channels-last") == true)
        // GELU with erf is not a cuBLASLt epilogue: it runs after the product, in place.
        let exactGelu = try plan(epilogue, [CUDATensorType(.f32, [4, 8]), CUDATensorType(.f32, [8, 2])])
        guard case .success(.matmulThen(let product, let rest)) = exactGelu else {
            Issue.record("expected a product then a generated epilogue, got \(exactGelu)")
            return
        }
        #expect(product.activation == .none && rest.reads.isEmpty)
        #expect(rest.kernel.source.contains("const float *in0"))  // in place: no __restrict__
    }

    @Test func epiloguesBecomeCuBLASLtEpilogues() throws {
        let body = try FusedBody(
            [.init(op: Linear(), operands: [.input(0), .input(1)]), .init(op: Add(), operands: [.step(0), .input(2)]),
             .init(op: Relu(), operands: [.step(1)])], op: FusedEpilogue.name)
        let r = try plan(
            try FusedEpilogue(body),
            [CUDATensorType(.f16, [2, 3, 64]), CUDATensorType(.f16, [64, 32]), CUDATensorType(.f16, [32])])
        guard case .success(.matmul(let m)) = r else {
            Issue.record("expected a cuBLASLt product, got \(r)")
            return
        }
        #expect(m.shape == CUDAMatmul.Shape(m: 6, n: 32, k: 64))
        #expect(m.hasBias && m.activation == .relu)
    }

    @Test func missingLibrariesAreNamedWithTheReason() {
        let report = CUDAEnvironment.report()
        #expect(report.first?.hasPrefix("cuda: ") == true)
        for library in CUDALibrary.allCases {
            let line = report.first { $0.contains(library.rawValue) }
            #expect(line != nil)
            if !library.isLoaded { #expect(line?.contains("dlopen(\"\(library.rawValue)\") failed") == true) }
        }
    }
}

/// Reading a plan in tests: the generated kernel, or why the node was refused.
protocol PlanReading {}

extension PlanReading {
    func kernel(_ r: Result<CUDAKernelPlan, EmberError>) -> CUDAGeneratedKernel? {
        if case .success(.generated(let k)) = r { return k }
        return nil
    }

    func reason(_ r: Result<CUDAKernelPlan, EmberError>) -> String? {
        if case .failure(let why) = r { return why.message }
        return nil
    }
}
