@testable import EmberCUDA
import EmberIR
import EmberOps

import Testing

/// Chains of transposes, gathers and reshapes composed into one strided view: the view must pick
/// exactly the elements the ops' own evaluation does.
@Suite struct CUDAStridedViewTests {
    /// Applies `ops` with the reference evaluation, and through the composed view; compares.
    func expectSameElements(_ shape: [Int], _ ops: [(any Operator, [Tensor?])]) throws {
        let x = Tensor.random(.f32, shape, in: -1...1, seed: 3)
        var value = x
        var view: CUDAStridedView? = CUDAStridedView(source: ValueID(0), shape: shape)
        for (op, constants) in ops {
            let inputs: [Tensor?] = [value] + constants.dropFirst()
            value = try op.evaluate(inputs, outputCount: 1)[0]
            view = view?.through(op, constants: [nil] + constants.dropFirst(), output: value.shape)
        }
        let composed = try #require(view, "the chain should compose")
        #expect(composed.shape == value.shape)
        let source = x.floats()
        let picked = (0..<value.count).map { source[composed.sourceIndex($0)] }
        #expect(picked == value.floats())
    }

    func shape(_ dims: [Int]) -> Tensor { Tensor(.i64, shape: [dims.count], int64s: dims.map(Int64.init)) }

    @Test func vitAttentionHeadSplitIsOneView() throws {
        // [S, B, 3E] -> [S, B, 3, E] -> [1, S, B, 3, E] -> transpose -> [3, S, B, 1, E] -> squeeze
        // -> gather 1 -> [S, B, E] -> [S, B*H, D] -> transpose -> [B*H, S, D] -> [B, H, S, D]
        let (s, b, h, d) = (5, 2, 3, 4)
        let e = h * d
        try expectSameElements([s, b, 3 * e], [
            (Reshape(), [nil, shape([s, b, 3, e])]),
            (Unsqueeze(), [nil, shape([0])]),
            (try Transpose(attributes: Attributes(op: "transpose", [("perm", .ints([3, 1, 2, 0, 4]))])), [nil]),
            (Squeeze(), [nil, shape([3])]),
            (try Gather(attributes: Attributes(op: "gather", [("axis", .int(0))])), [nil, Tensor(.i64, shape: [], int64s: [1])]),
            (Reshape(), [nil, shape([s, b * h, d])]),
            (try Transpose(attributes: Attributes(op: "transpose", [("perm", .ints([1, 0, 2]))])), [nil]),
            (Reshape(), [nil, shape([b, h, s, d])]),
        ])
    }

    @Test func reshapesThatSplitAndMergeWalkedDims() throws {
        try expectSameElements([4, 6, 5], [
            (try Transpose(attributes: Attributes(op: "transpose", [("perm", .ints([1, 0, 2]))])), [nil]),
            (Reshape(), [nil, shape([2, 3, 20])]),
            (Flatten(), [nil]),
        ])
    }

    @Test func reshapesSplitFactorsOnlyWhereSizesDivide() throws {
        // [4, 6] transposed to [6, 4]: as [24] it is two factors; as [4, 6] the first dim would
        // end inside the factor of 6 steps.
        let view = CUDAStridedView(source: ValueID(0), shape: [4, 6])
            .through(try Transpose(attributes: Attributes(op: "transpose", [("perm", .ints([1, 0]))])), constants: [nil], output: [6, 4])
        #expect(view?.reshaped([24]) != nil)  // two factors: still one copy
        #expect(view?.reshaped([4, 6]) == nil)
        #expect(view?.reshaped([3, 2, 4]) != nil)
        #expect(CUDAStridedView(source: ValueID(0), shape: [4, 6]).isWholeSource)
        #expect(view?.isWholeSource == false)
    }

    @Test func splitPartsAreViewsOfOneRun() throws {
        // GPT-2's attention input [B, S, 3E] split along the last dim.
        let x = Tensor.random(.f32, [2, 3, 12], in: -1...1, seed: 5)
        let parts = try Split(attributes: Attributes(op: "split", [("axis", .int(2)), ("num_outputs", .int(3))]))
            .evaluate([x], outputCount: 3)
        let base = CUDAStridedView(source: ValueID(0), shape: [2, 3, 12])
        for (k, part) in parts.enumerated() {
            let view = try #require(base.part(axis: 2, start: 4 * k, size: 4))
            #expect((0..<part.count).map { x.floats()[view.sourceIndex($0)] } == part.floats())
        }
        // A dim made of two runs (after a transpose and a merge) is not split this way.
        let merged = base.through(try Transpose(attributes: Attributes(op: "transpose", [("perm", .ints([1, 0, 2]))])), constants: [nil], output: [3, 2, 12])?
            .reshaped([6, 12])
        #expect(merged?.part(axis: 0, start: 0, size: 3) == nil)
    }

    @Test func gathersOfComputedOrManyIndicesAreNotViews() throws {
        let gather = try Gather(attributes: Attributes(op: "gather", [("axis", .int(0))]))
        let base = CUDAStridedView(source: ValueID(0), shape: [3, 4])
        #expect(base.through(gather, constants: [nil, nil], output: [4]) == nil)
        #expect(base.through(gather, constants: [nil, Tensor(.i64, shape: [2], int64s: [0, 1])], output: [2, 4]) == nil)
        #expect(base.through(gather, constants: [nil, Tensor(.i64, shape: [], int64s: [-1])], output: [4])?.offset == 8)
    }
}
