@testable import EmberCUDA
import EmberCUDAChecks
import EmberIR
import EmberOps
import Testing

/// Which attention nodes the CUDA provider runs as one generated kernel, which it refuses and
/// why, and the launch shape it picks; no device needed.
@Suite struct CUDAAttentionPlanTests: PlanReading {
    func op(_ entries: [(String, Attribute)] = []) throws -> Attention {
        try Attention(attributes: Attributes(op: Attention.name, entries))
    }

    func plan(_ op: Attention, _ inputs: [CUDATensorType?], outputs: [CUDATensorType]? = nil) throws -> Result<CUDAKernelPlan, EmberError> {
        let node = try outputs.map { CUDANode(op: op, name: "attn", inputs: inputs, outputs: $0) }
            ?? CUDANode(op: op, name: "attn", inputs: inputs)
        return CUDAKernelPlan.plan(node, multiprocessors: 132)
    }


    func t(_ dtype: DType, _ shape: [Int]) -> CUDATensorType { CUDATensorType(dtype, shape) }

    @Test func halfPrecisionRunsOnTheTensorCores() throws {
        for dtype in [DType.f16, .bf16] {
            let x = t(dtype, [32, 12, 128, 64])
            let k = try #require(kernel(try plan(op(), [x, x, x, t(.f32, [32, 1, 1, 128])])))
            #expect(k.source.contains("mma.sync.aligned.m16n8k16.row.col.f32.\(dtype).\(dtype).f32"))
            #expect(k.source.contains("ldmatrix.sync.aligned.m8n8.x4.trans"))
            #expect(k.source.contains("const float *__restrict__ mask"))
            // 4 warps of 16 queries: 2 query tiles per head.
            #expect(k.threadsPerBlock == 128)
            #expect(k.blocks == 32 * 12 * 2)
        }
    }

    @Test func batchOneSplitsQueriesIntoSmallTiles() throws {
        let x = t(.f16, [1, 12, 128, 64])
        let k = try #require(kernel(try plan(op(), [x, x, x])))
        // One warp of 16 queries a block: 8 blocks per head instead of 2.
        #expect(k.threadsPerBlock == 32)
        #expect(k.blocks == 12 * 8)
    }

    @Test func f32AndOddHeadSizesUsePlainFMA() throws {
        for (dtype, d) in [(DType.f32, 64), (.f16, 40), (.bf16, 8)] {
            let x = t(dtype, [2, 4, 50, d])
            let k = try #require(kernel(try plan(op(), [x, x, x])), "\(dtype) head \(d)")
            #expect(!k.source.contains("mma.sync"))
            #expect(k.blocks == 2 * 4 * 4)  // 16 queries a block
        }
    }

    @Test func threeDimensionalFormReadsHeadsWithStrides() throws {
        let q = t(.f16, [2, 197, 8 * 64]), kv = t(.f16, [2, 197, 2 * 64])
        let attention = try op([("q_num_heads", .int(8)), ("kv_num_heads", .int(2)), ("is_causal", .int(1))])
        let k = try #require(kernel(try plan(attention, [q, kv, kv])))
        #expect(k.source.contains("hk = h / 4u"))  // 4 query heads share a key-value head
        #expect(k.source.contains("* 512ull"))  // a query row steps over all heads
        #expect(k.source.contains("ember_load_tile(ks, kb, first, 64, 72, 128)"))  // a key row over the key-value heads
        #expect(k.source.contains("key > row"))
    }

    @Test func masksAreReadWithBroadcastStrides() throws {
        let x = t(.f16, [2, 3, 20, 64])
        let perQuery = try #require(kernel(try plan(op(), [x, x, x, t(.bool, [20, 20])])))
        #expect(perQuery.source.contains("const unsigned char *__restrict__ mask"))
        #expect(perQuery.source.contains("(unsigned long long)b * 0ull + (unsigned long long)h * 0ull"))
        #expect(perQuery.source.contains("(unsigned long long)row * 20ull + key"))
        let perHead = try #require(kernel(try plan(op(), [x, x, x, t(.f16, [2, 3, 1, 20])])))
        #expect(perHead.source.contains("(unsigned long long)b * 60ull + (unsigned long long)h * 20ull"))
        #expect(perHead.source.contains("(unsigned long long)row * 0ull + key"))
    }

    @Test func everyOtherFeatureIsRefusedWithAReason() throws {
        let x = t(.f16, [1, 2, 16, 64])
        let refused: [(Attention, [CUDATensorType?], [CUDATensorType], String)] = [
            (try op([("softcap", .float(30))]), [x, x, x], [x], "softcap"),
            (try op([("left_window_size", .int(4))]), [x, x, x], [x], "sliding window"),
            (try op(), [x, x, x, nil, t(.f16, [1, 2, 4, 64]), t(.f16, [1, 2, 4, 64])], [x], "past_key"),
            (try op(), [x, x, x, nil, nil, nil, t(.i64, [1])], [x], "nonpad_kv_seqlen"),
            (try op(), [x, x, x], [x, x, x], "present_key"),
            (try op(), [t(.f64, [1, 2, 16, 64]), t(.f64, [1, 2, 16, 64]), t(.f64, [1, 2, 16, 64])], [t(.f64, [1, 2, 16, 64])], "expected all f32, f16 or bf16"),
            (try op(), [t(.f16, [1, 2, 16, 256]), t(.f16, [1, 2, 16, 256]), t(.f16, [1, 2, 16, 256])], [t(.f16, [1, 2, 16, 256])], "at most 128"),
            (try op(), [x, x, x, t(.i64, [16, 16])], [x], "attn_mask is i64"),
            (try op(), [x, x, x, t(.f32, [3, 1, 16, 16])], [x], "does not broadcast"),
            (try op(), [x, x, x, t(.f32, [1, 1, 16, 17])], [x], "does not broadcast"),
            (try op(), [t(.f16, [1, 3, 16, 64]), x, x], [t(.f16, [1, 3, 16, 64])], "do not split"),
        ]
        for (attention, inputs, outputs, why) in refused {
            let r = try plan(attention, inputs, outputs: outputs)
            #expect(reason(r)?.contains(why) == true, "expected '\(why)', got \(String(describing: reason(r)))")
        }
    }

    @Test func scaleDefaultsToTheInverseRootOfTheHeadSize() throws {
        let x = t(.f32, [1, 1, 4, 64])
        let node = try CUDANode(op: op(), inputs: [x, x, x])
        let p = try CUDAKernelPlan.attentionProblem(op(), node).get()
        #expect(p.scale == 0.125)
        let scaled = try CUDAKernelPlan.attentionProblem(op([("scale", .float(0.5))]), node).get()
        #expect(scaled.scale == 0.5)
    }
}

/// Every attention check case on the device against the reference backend (f32 1e-4, f16 and
/// bf16 1e-2 relative error, outputs poisoned first).
@Suite(.serialized, .enabled(if: GPU.available, GPU.reason))
struct CUDAAttentionKernelTests {
    @Test(arguments: try CUDACheckCases.attention())
    func attention(_ check: CUDACheckCase) throws {
        let result = try GPU.runner.get().run(check)
        #expect(result.relativeError <= check.tolerance, "\(check.name): relative error \(result.relativeError)")
    }
}
