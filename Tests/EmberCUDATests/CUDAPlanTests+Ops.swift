@testable import EmberCUDA
import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// Plans of pools, gemm, copies and typed elementwise ops, without a device: which run, why
/// others do not, and the views and windows they compute, checked against the ops' own shape
/// inference and reference evaluation.
@Suite struct CUDAOpPlanTests: PlanReading {
    func node(_ op: any Operator, _ inputs: [CUDATensorType?], constants: [Tensor?]? = nil, layout: CUDALayout = .rowMajor) throws -> CUDANode {
        var node = try CUDANode(op: op, name: "n", inputs: inputs.map { $0?.with(layout) }, constants: constants)
        node.outputs = node.outputs.map { $0.with(layout) }
        return node
    }

    func plan(_ op: any Operator, _ inputs: [CUDATensorType?], constants: [Tensor?]? = nil, layout: CUDALayout = .rowMajor) throws -> Result<CUDAKernelPlan, EmberError> {
        CUDAKernelPlan.plan(try node(op, inputs, constants: constants, layout: layout), multiprocessors: 132)
    }


    func attributes(_ op: String, _ entries: [(String, Attribute)]) -> Attributes { Attributes(op: op, entries) }

    @Test func convolutionsAndPoolsPreferChannelsLast() throws {
        #expect(CUDAKernelPlan.prefersChannelsLast(try Conv(attributes: Attributes(op: Conv.name))))
        #expect(CUDAKernelPlan.prefersChannelsLast(GlobalAveragePool()))
        #expect(CUDAKernelPlan.prefersChannelsLast(try MaxPool(attributes: attributes(MaxPool.name, [("kernel_shape", .ints([3, 3]))]))))
        #expect(!CUDAKernelPlan.prefersChannelsLast(Relu()))
        #expect(!CUDAKernelPlan.prefersChannelsLast(Transpose(perm: [0, 2, 3, 1])))
    }

    @Test func poolsRunInEitherLayout() throws {
        let op = try MaxPool(attributes: attributes(MaxPool.name, [
            ("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1])),
        ]))
        let x = CUDATensorType(.f16, [2, 64, 112, 112])
        // Channels-last with 64 channels: 8 channels per 16-byte load.
        let last = try #require(kernel(try plan(op, [x], layout: .channelsLast)))
        #expect(last.source.contains("reinterpret_cast<const uint4 *>(p)[0]"))
        #expect(last.source.contains("const unsigned int cg = r % 8u;"))
        let rows = try #require(kernel(try plan(op, [x])))
        #expect(!rows.source.contains("uint4") && rows.source.contains("const unsigned int ow = r % 56u;"))
        // Three channels: one element per thread even channels-last.
        let odd = try #require(kernel(try plan(op, [CUDATensorType(.f32, [1, 3, 9, 9])], layout: .channelsLast)))
        #expect(!odd.source.contains("uint4"))

        var mixed = try node(op, [x], layout: .channelsLast)
        mixed.outputs = mixed.outputs.map { $0.with(.rowMajor) }
        #expect(reason(CUDAKernelPlan.plan(mixed, multiprocessors: 132))?.contains("one layout") == true)
        var indices = try node(op, [x], layout: .channelsLast)
        indices.outputs.append(CUDATensorType(.i64, indices.outputs[0].shape))
        #expect(reason(CUDAKernelPlan.plan(indices, multiprocessors: 132))?.contains("no indices") == true)
        let oneD = try MaxPool(attributes: attributes(MaxPool.name, [("kernel_shape", .ints([3]))]))
        #expect(reason(try plan(oneD, [CUDATensorType(.f32, [2, 4, 9])]))?.contains("rank 3") == true)
        #expect(reason(try plan(op, [CUDATensorType(.i8, [2, 4, 9, 9])], layout: .channelsLast))?.contains("i8") == true)
    }

    @Test func globalPoolsReduceEachPlane() throws {
        let x = CUDATensorType(.f16, [2, 2048, 7, 7])
        let last = try #require(kernel(try plan(GlobalAveragePool(), [x], layout: .channelsLast)))
        #expect(last.entry == "ember_global_pool" && last.blocks == 2 * 2048 / 8 / 32)
        let rows = try #require(kernel(try plan(GlobalAveragePool(), [x])))
        #expect(rows.entry == "ember_reduce" && rows.blocks == 2 * 2048)
    }

    /// The window's output size agrees with the op's own shape inference over ceil mode,
    /// dilations, uneven pads and auto_pad.
    @Test(arguments: [
        [("kernel_shape", Attribute.ints([3, 3])), ("strides", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1]))],
        [("kernel_shape", .ints([3, 2])), ("strides", .ints([2, 3])), ("pads", .ints([1, 0, 2, 1])), ("dilations", .ints([2, 1])),
         ("ceil_mode", .int(1))],
        [("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2])), ("pads", .ints([1, 1, 1, 1])), ("ceil_mode", .int(1))],
        [("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2])), ("auto_pad", .string("SAME_UPPER"))],
        [("kernel_shape", .ints([4, 4])), ("strides", .ints([3, 3])), ("auto_pad", .string("SAME_LOWER"))],
        [("kernel_shape", .ints([2, 2])), ("auto_pad", .string("VALID")), ("pads", .ints([5, 5, 5, 5]))],
    ] as [[(String, Attribute)]])
    func poolWindowsMatchTheOpsShapes(_ entries: [(String, Attribute)]) throws {
        for (h, w) in [(10, 10), (17, 19), (112, 112), (7, 8)] {
            let op = try AveragePool(attributes: attributes(AveragePool.name, entries))
            let x = TensorType(.f32, known: [1, 2, h, w])
            let expected = try #require(try op.inferTypes(OpInputs(op.name, types: [x]), outputCount: 1).first?.knownShape)
            let window = try CUDAKernelPlan.poolWindow(op.window, height: h, width: w, op: op.name).get()
            #expect(window.output == Array(expected.suffix(2)), "\(entries) at \(h)x\(w)")
            #expect(kernel(try plan(op, [CUDATensorType(.f32, [1, 2, h, w])], layout: .channelsLast)) != nil)
        }
    }

    @Test func gemmTransposesThroughCuBLASLt() throws {
        let a = CUDATensorType(.f16, [2, 2048]), w = CUDATensorType(.f16, [1000, 2048])
        guard case .success(.matmul(let classifier)) = try plan(Gemm(transB: true), [a, w, CUDATensorType(.f16, [1000])]) else {
            Issue.record("expected a cuBLASLt product")
            return
        }
        #expect(classifier.shape == CUDAMatmul.Shape(m: 2, n: 1000, k: 2048, transposedW: true))
        #expect(classifier.hasBias)
        let full = try plan(Gemm(transA: true), [CUDATensorType(.f32, [64, 32]), CUDATensorType(.f32, [64, 48]), CUDATensorType(.f32, [32, 48])])
        guard case .success(.matmulThen(let product, let rest)) = full else {
            Issue.record("expected a product, then C added in place, got \(full)")
            return
        }
        #expect(product.shape == CUDAMatmul.Shape(m: 32, n: 48, k: 64, transposedX: true) && !product.hasBias)
        #expect(rest.reads == [2])
        guard case .success(.matmul(let dropped)) = try plan(Gemm(beta: 0), [a, CUDATensorType(.f16, [2048, 8]), CUDATensorType(.f16, [8])]) else {
            Issue.record("expected C dropped with beta 0")
            return
        }
        #expect(!dropped.hasBias)
        #expect(reason(try plan(Gemm(alpha: 2), [a, CUDATensorType(.f16, [2048, 8])]))?.contains("alpha 2.0") == true)
        #expect(reason(try plan(Gemm(beta: 0.5), [a, CUDATensorType(.f16, [2048, 8]), CUDATensorType(.f16, [8])]))?.contains("beta 0.5") == true)
        #expect(reason(try plan(Gemm(), [CUDATensorType(.f64, [2, 3]), CUDATensorType(.f64, [3, 4])]))?.contains("f64") == true)
    }

    /// The element each output position of `view` reads, gathered on the host.
    func apply(_ view: CUDACopyGenerator.View, _ x: Tensor) -> [Double] {
        let values = x.doubles()
        let count = view.dims.reduce(1, *)
        return (0..<count).map { i in
            var r = i, offset = view.offset
            for k in view.dims.indices.reversed() {
                offset += (r % view.dims[k]) * view.strides[k]
                r /= view.dims[k]
            }
            return values[offset]
        }
    }

    /// Views as the kernels read them (before and after merging dims and grouping 16-byte
    /// units) pick the elements the reference evaluation does.
    @Test func viewsPickTheReferenceElements() throws {
        let x = Tensor.random(.f32, [4, 6, 10], in: -100...100, seed: 3)
        let ints = { (v: [Int]) in Tensor(shape: [v.count], int64s: v.map(Int64.init)) }
        let slices: [([Int], [Int], [Int], [Int])] = [
            ([0], [1], [1], [1]), ([-1, 2], [-100, 9], [2, 1], [-2, 3]), ([1], [Int(Int64.max)], [-1], [1]),
            ([3, 0, 8], [0, 6, -11], [0, 1, 2], [-1, 2, -3]), ([5], [2], [2], [1]),
        ]
        for (starts, ends, axes, steps) in slices {
            let inputs = [x, ints(starts), ints(ends), ints(axes), ints(steps)]
            let node = try node(SliceOp(), inputs.map { CUDATensorType($0.dtype, $0.shape) }, constants: [nil] + inputs.dropFirst().map { Optional($0) })
            let view = try CUDAKernelPlan.sliceView(node, node.inputs[0]!).get()
            let expected = try evaluateOp(SliceOp(), inputs)[0]
            #expect(view.dims == expected.shape, "\(starts) \(ends) \(axes) \(steps)")
            #expect(apply(view, x) == expected.doubles() && apply(view.simplified(), x) == expected.doubles())
        }
        for perm in [[0, 2, 1], [2, 0, 1], [1, 0, 2], [2, 1, 0]] {
            let view = try CUDAKernelPlan.transposeView(Transpose(perm: perm), CUDATensorType(.f32, x.shape)).get()
            let expected = try evaluateOp(Transpose(perm: perm), [x])[0].doubles()
            #expect(apply(view, x) == expected && apply(view.simplified(), x) == expected, "perm \(perm)")
        }
        let small = Tensor.random(.f32, [3, 1, 8], in: -100...100, seed: 4)
        let target = CUDATensorType(.f32, [2, 3, 5, 8])
        let expand = try CUDAKernelPlan.expandView(CUDATensorType(.f32, small.shape), target).get()
        let expected = try evaluateOp(Expand(), [small, ints(target.shape)])[0].doubles()
        #expect(apply(expand, small) == expected && apply(expand.simplified(), small) == expected)
        // Units of 4 f32 (16 bytes) only where every run starts on a unit boundary.
        #expect(CUDACopyGenerator.View(dims: [4, 6, 8], strides: [60, 10, 1], offset: 2).grouped(4) == nil)
        #expect(CUDACopyGenerator.View(dims: [4, 6, 8], strides: [60, 10, 1], offset: 2).grouped(2)
            == CUDACopyGenerator.View(dims: [4, 6, 4], strides: [30, 5, 1], offset: 1))
        #expect(CUDACopyGenerator.View(dims: [4, 8], strides: [16, 1], offset: 4).grouped(4)
            == CUDACopyGenerator.View(dims: [4, 2], strides: [4, 1], offset: 1))
        #expect(CUDACopyGenerator.View(dims: [4, 8], strides: [0, 1], offset: 0).grouped(4)
            == CUDACopyGenerator.View(dims: [4, 2], strides: [0, 1], offset: 0))
        #expect(CUDACopyGenerator.View(dims: [4, 8], strides: [8, -1], offset: 7).grouped(4) == nil)
    }

    @Test func copiesUseWideUnitsAndTiles() throws {
        // BERT's heads: the last dim stays, 64 f16 = 8 units of 16 bytes.
        let heads = try #require(kernel(try plan(Transpose(perm: [0, 2, 1, 3]), [CUDATensorType(.f16, [2, 128, 12, 64])])))
        #expect(heads.source.contains("const uint4 *__restrict__ in0") && heads.reads == [0])
        // ViT's patches: the last dim moves, through shared-memory tiles.
        let patches = try #require(kernel(try plan(Transpose(perm: [0, 2, 1]), [CUDATensorType(.f32, [2, 768, 196])])))
        #expect(patches.source.contains("tile[32][33]") && patches.blocks == 24 * 7 * 2)
        let bools = try #require(kernel(try plan(Transpose(perm: [1, 0]), [CUDATensorType(.bool, [33, 65])])))
        #expect(bools.source.contains("unsigned char tile[32][33]"))
        // Concat of rows of 768 f32 moves 16-byte units; rows of 5 f16 cannot.
        let cls = try #require(kernel(try plan(Concat(axis: 1), [CUDATensorType(.f32, [2, 1, 768]), CUDATensorType(.f32, [2, 196, 768])])))
        #expect(cls.source.contains("const uint4 *__restrict__ in1") && cls.source.contains("if (j < 192u)"))
        let odd = try #require(kernel(try plan(Concat(axis: 1), [CUDATensorType(.f16, [4, 3, 5]), CUDATensorType(.f16, [4, 1, 5])])))
        #expect(odd.source.contains("const unsigned short *__restrict__ in0"))
        let embedding = try #require(kernel(try plan(Gather(axis: 0), [CUDATensorType(.f16, [30522, 768]), CUDATensorType(.i64, [2, 128])])))
        #expect(embedding.source.contains("const long long *__restrict__ in1") && embedding.source.contains("if (j < 0) j += 30522ll;"))
        #expect(embedding.source.contains("const uint4 *__restrict__ in0"))
        let computed = CUDAKernelPlan.plan(CUDANode(
            op: SliceOp(), inputs: [CUDATensorType(.f32, [4, 6]), CUDATensorType(.i64, [1]), CUDATensorType(.i64, [1])],
            outputs: [CUDATensorType(.f32, [3, 6])], constants: [nil, nil, Tensor(shape: [1], int64s: [3])]), multiprocessors: 132)
        #expect(reason(computed)?.contains("computed at run time") == true)
    }

    @Test func masksAndCastsAreTyped() throws {
        let body = try FusedBody([
            .init(op: Cast(to: .bool), operands: [.input(0)]), .init(op: GreaterOrEqual(), operands: [.input(1), .input(2)]),
            .init(op: And(), operands: [.step(0), .step(1)]), .init(op: Where(), operands: [.step(2), .input(3), .input(4)]),
        ], op: FusedElementwise.name)
        let mask = try #require(kernel(try plan(try FusedElementwise(body), [
            CUDATensorType(.i64, [2, 1, 1, 128]), CUDATensorType(.i64, [1, 1, 128, 1]), CUDATensorType(.i64, []),
            CUDATensorType(.f32, []), CUDATensorType(.f32, []),
        ])))
        #expect(mask.source.contains("long long v0 = in0["))
        #expect(mask.source.contains("bool s0 = (v0 != 0);"))
        #expect(mask.source.contains("bool s1 = (v1 >= v2);"))
        #expect(mask.source.contains("float s3 = (s2 ? v3 : v4);"))
        let truncate = try #require(kernel(try plan(Cast(to: .i32), [CUDATensorType(.f16, [64])])))
        #expect(truncate.source.contains("int s0 = ((int)(v0));") && truncate.source.contains("float v0 = ember_h2f(in0[i]);"))
        let toHalf = try #require(kernel(try plan(Cast(to: .f16), [CUDATensorType(.i64, [64])])))
        #expect(toHalf.source.contains("ember_round_f16((float)(v0))"))
        #expect(reason(try plan(Cast(to: .u8), [CUDATensorType(.f32, [4])]))?.contains("u8") == true)
        #expect(reason(try plan(Div(), [CUDATensorType(.i64, [4]), CUDATensorType(.i64, [4])]))?.contains("div of i64") == true)
    }
}
