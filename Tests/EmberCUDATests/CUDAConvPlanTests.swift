@testable import EmberCUDA
import EmberIR
import EmberOps
import Testing

/// How the provider plans convolutions without a device: what cuDNN fuses, what runs after it
/// as a generated kernel, and the sizes it asks cuDNN for.
@Suite struct CUDAConvPlanTests {
    func conv(_ attributes: [(String, Attribute)] = []) throws -> Conv {
        try Conv(attributes: Attributes(op: Conv.name, attributes))
    }

    func last(_ dtype: DType, _ shape: [Int]) -> CUDATensorType { CUDATensorType(dtype, shape, layout: .channelsLast) }

    func plan(_ op: any Operator, _ inputs: [CUDATensorType?], output: CUDATensorType) -> Result<CUDAKernelPlan, EmberError> {
        CUDAKernelPlan.plan(CUDANode(op: op, name: "n", inputs: inputs, outputs: [output]), multiprocessors: 132)
    }

    @Test func theResNetEpilogueIsFusedWhole() throws {
        // conv(x, w, b) + r, relu: as the optimizer fuses a bottleneck's last convolution.
        let op = try FusedEpilogue(FusedBody(
            [.init(op: try conv([("kernel_shape", .ints([1, 1]))]), operands: [.input(0), .input(1), .input(2)]),
             .init(op: Add(), operands: [.step(0), .input(3)]), .init(op: Relu(), operands: [.step(1)])],
            op: FusedEpilogue.name))
        let r = plan(
            op, [last(.f16, [2, 64, 56, 56]), last(.f16, [256, 64, 1, 1]), CUDATensorType(.f16, [256]), last(.f16, [2, 256, 56, 56])],
            output: last(.f16, [2, 256, 56, 56]))
        guard case .success(.conv(let p)) = r else {
            Issue.record("expected a convolution, got \(r)")
            return
        }
        #expect(p.epilogue == CUDAConvEpilogue(bias: true, residual: true, relu: true))
        #expect((p.bias, p.residual) == (2, 3))
        #expect(p.rest == nil)
        #expect(p.shape == CUDAConvShape(batch: 2, channels: 64, height: 56, width: 56, outChannels: 256, kernel: [1, 1]))
        // Without a fusing engine: bias, residual and relu in one kernel over [N, H, W, K].
        let unfused = try #require(p.unfused)
        #expect(unfused.reads == [2, 3])
        #expect(unfused.kernel.source.contains("g < 200704u"))  // 2*56*56*256 / 8
    }

    @Test func stepsCuDNNDoesNotRunFollowInPlace() throws {
        // conv, relu, then a sigmoid: cuDNN runs conv+relu; the sigmoid reads the output in place.
        let op = try FusedEpilogue(FusedBody(
            [.init(op: try conv([("pads", .ints([1, 1, 1, 1]))]), operands: [.input(0), .input(1)]),
             .init(op: Relu(), operands: [.step(0)]), .init(op: Sigmoid(), operands: [.step(1)])],
            op: FusedEpilogue.name))
        let r = plan(op, [last(.f32, [1, 8, 5, 5]), last(.f32, [16, 8, 3, 3])], output: last(.f32, [1, 16, 5, 5]))
        guard case .success(.conv(let p)) = r else {
            Issue.record("expected a convolution, got \(r)")
            return
        }
        #expect(p.epilogue == CUDAConvEpilogue(relu: true))
        let rest = try #require(p.rest)
        #expect(rest.reads.isEmpty)
        #expect(rest.kernel.source.contains("const float *in0"))  // in place: no __restrict__
    }

    @Test func aChannelVectorAddIsTheBias() throws {
        // conv(x, w) + b[K, 1, 1]: the bias; a [K] would broadcast over W instead, so it is not.
        for (shape, fused) in [([4, 1, 1], true), ([1, 4, 1, 1], true), ([4], false)] {
            let op = try FusedEpilogue(FusedBody(
                [.init(op: try conv(), operands: [.input(0), .input(1)]), .init(op: Add(), operands: [.step(0), .input(2)])],
                op: FusedEpilogue.name))
            let bias = shape.count == 4 ? last(.f16, shape) : CUDATensorType(.f16, shape)
            let r = plan(op, [last(.f16, [1, 2, 4, 4]), last(.f16, [4, 2, 1, 1]), bias], output: last(.f16, [1, 4, 4, 4]))
            guard case .success(.conv(let p)) = r else {
                Issue.record("expected a convolution for a bias \(shape), got \(r)")
                continue
            }
            #expect((p.bias != nil) == fused, "bias \(shape)")
        }
    }

    @Test func theGeometryFollowsONNX() throws {
        let attributes = Attributes(op: Conv.name, [("strides", .ints([2, 2])), ("auto_pad", .string("SAME_UPPER")), ("group", .int(2))])
        let conv = try Conv(attributes: attributes)
        guard case .success(let s) = CUDAKernelPlan.geometry(conv, x: [1, 4, 7, 7], w: [6, 2, 3, 3]) else {
            Issue.record("expected a geometry")
            return
        }
        #expect(s.output == [4, 4])
        #expect(s.padBegin == [1, 1] && s.padEnd == [1, 1])
        #expect(s.groups == 2 && s.weight == [6, 2, 3, 3])
        #expect(s.flops == 2 * 6 * 16 * 2 * 9)
    }

    @Test func convolutionsSayWhyNot() throws {
        let rowMajor = plan(try conv(), [CUDATensorType(.f32, [1, 2, 5, 5]), CUDATensorType(.f32, [3, 2, 3, 3])], output: CUDATensorType(.f32, [1, 3, 3, 3]))
        guard case .failure(let why) = rowMajor else { Issue.record("expected a refusal"); return }
        #expect(why.message.contains("channels-last"))
        let threeD = plan(try conv(), [CUDATensorType(.f32, [1, 2, 5]), CUDATensorType(.f32, [3, 2, 3])], output: CUDATensorType(.f32, [1, 3, 3]))
        guard case .failure(let why3) = threeD else { Issue.record("expected a refusal"); return }
        #expect(why3.message.contains("2-D"))
        // Other ops take row-major tensors only.
        let relu = plan(Relu(), [last(.f32, [1, 2, 3, 4])], output: last(.f32, [1, 2, 3, 4]))
        guard case .failure(let whyRelu) = relu else { Issue.record("expected a refusal"); return }
        #expect(whyRelu.message.contains("row-major"))
    }

    @Test func layoutsAreViewedInTheOutputsOrder() {
        #expect(CUDAKernelPlan.storedView(CUDATensorType(.f32, [8, 1, 1])) == [1, 1, 1, 8])
        #expect(CUDAKernelPlan.storedView(CUDATensorType(.f32, [2, 8, 1, 1])) == [2, 1, 1, 8])
        #expect(CUDAKernelPlan.storedView(CUDATensorType(.f32, [5, 6])) == [1, 5, 6, 1])
        #expect(CUDAKernelPlan.storedView(CUDATensorType(.f32, [8, 5, 6])) == nil)
        #expect(CUDAKernelPlan.storedView(last(.f32, [2, 8, 5, 6])) == [2, 5, 6, 8])
    }

    @Test func layoutCopiesTransposeEachImage() throws {
        // [2, 3, 4, 5] to channels-last: each image's [3, 20] becomes [20, 3], one 32x32 tile.
        let t = CUDATensorType(.f16, [2, 3, 4, 5])
        guard case .success(let k) = CUDALayoutGenerator.convert(t, to: .channelsLast, multiprocessors: 132) else {
            Issue.record("expected a kernel")
            return
        }
        #expect(k.blocks == 2)
        #expect(k.source.contains("if (r < 3u && c < 20u) tile[k][tx] = in0[image + (unsigned int)r * 20u + c];"))
        #expect(k.source.contains("out[image + (unsigned int)c * 3u + r] = tile[tx][k];"))
        #expect(k.source.contains("const unsigned short *__restrict__ in0"))
        guard case .success(let back) = CUDALayoutGenerator.convert(t.with(.channelsLast), to: .rowMajor, multiprocessors: 132) else {
            Issue.record("expected a kernel")
            return
        }
        #expect(back.source.contains("if (r < 20u && c < 3u)"))
    }

    @Test func channelsLastBytesRoundTrip() throws {
        let t = Tensor.random(.f16, [2, 3, 4, 5], seed: 3)
        let stored = try CUDAGraphExecutor.channelsLast(t)
        #expect(try CUDAGraphExecutor.rowMajor(stored, .f16, shape: t.shape) == t)
        // Element [0, 1, 0, 0] is stored second.
        let bytes = t.bytes()
        #expect(Array(stored[2..<4]) == Array(bytes[40..<42]))
    }
}
