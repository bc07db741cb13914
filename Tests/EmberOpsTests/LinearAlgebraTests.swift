import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct LinearAlgebraTests {
    func attrs(_ op: String, _ entries: [(String, Attribute)]) -> Attributes { Attributes(op: op, entries) }

    @Test func matmulInfersBroadcastBatchAndKeepsSymbols() throws {
        let a = TensorType(.f32, ["batch", 1, "seq", 64])
        let b = TensorType(.f32, [12, 64, "seq"])
        let out = try MatMul().inferTypes(OpInputs("matmul", types: [a, b]), outputCount: 1)
        #expect(out == [TensorType(.f32, ["batch", 12, "seq", "seq"])])
    }

    @Test func matmulInfersVectorOperands() throws {
        let v = TensorType(.f32, [4])
        let m = TensorType(.f32, ["n", 4, 5])
        #expect(try MatMul().inferTypes(OpInputs("matmul", types: [v, m]), outputCount: 1) == [TensorType(.f32, ["n", 5])])
        let m2 = TensorType(.f32, [3, 4])
        #expect(try MatMul().inferTypes(OpInputs("matmul", types: [m2, v]), outputCount: 1) == [TensorType(.f32, [3])])
        #expect(try MatMul().inferTypes(OpInputs("matmul", types: [v, v]), outputCount: 1) == [TensorType(.f32, [])])
    }

    @Test func matmulRejectsMismatchedInnerDims() {
        let a = TensorType(.f32, [2, 3]), b = TensorType(.f32, [4, 5])
        #expect(throws: EmberError.self) { try MatMul().inferTypes(OpInputs("matmul", types: [a, b]), outputCount: 1) }
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        #expect(throws: EmberError.self) { try evaluateOp(MatMul(), [x, x]) }
        #expect(throws: EmberError.self) { try MatMul().evaluate([x, Tensor(shape: [3], int64s: [1, 2, 3])], outputCount: 1) }
        #expect(throws: EmberError.self) { try MatMul().evaluate([Tensor(shape: [], floats: [1]), x], outputCount: 1) }
    }

    @Test func matmulEvaluatesSmallCases() throws {
        let a = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 2], floats: [7, 8, 9, 10, 11, 12])
        #expect(try evaluateOp(MatMul(), [a, b])[0] == Tensor(shape: [2, 2], floats: [58, 64, 139, 154]))
        let v = Tensor(shape: [3], floats: [1, 0, -1])
        #expect(try evaluateOp(MatMul(), [a, v])[0] == Tensor(shape: [2], floats: [-2, -2]))
        let ai = Tensor(.i32, shape: [2, 3], int64s: [1, 2, 3, 4, 5, 6])
        let bi = Tensor(.i32, shape: [3, 1], int64s: [1, 1, 1])
        #expect(try evaluateOp(MatMul(), [ai, bi])[0] == Tensor(.i32, shape: [2, 1], int64s: [6, 15]))
    }

    @Test func matmulF32KernelMatchesDoubleLoops() throws {
        // Sizes that exercise every edge of the packed kernel: partial row and column panels, several k blocks.
        for (m, k, n) in [(1, 300, 1), (7, 513, 33), (67, 260, 130), (2, 5, 17)] {
            let a = Tensor.random(.f32, [2, m, k], seed: 3)
            let b = Tensor.random(.f32, [k, n], seed: 4)
            let fast = try evaluateOp(MatMul(), [a, b])[0]
            let exact = try evaluateOp(MatMul(), [a.cast(to: .f64), b.cast(to: .f64)])[0].cast(to: .f32)
            #expect((fast.relativeError(to: exact) ?? 1) < 1e-5)
        }
    }

    @Test func gemmAppliesTransposesAlphaBetaAndBias() throws {
        let op = try Gemm(attributes: attrs("gemm", [("transA", .int(1)), ("alpha", .float(2)), ("beta", .float(0.5))]))
        let a = Tensor(shape: [2, 1], floats: [1, 2])  // A' = [[1, 2]]
        let b = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        let c = Tensor(shape: [2], floats: [10, 20])
        #expect(try evaluateOp(op, [a, b, c])[0] == Tensor(shape: [1, 2], floats: [19, 30]))
        #expect(try evaluateOp(op, [a, b])[0] == Tensor(shape: [1, 2], floats: [14, 20]))
        let rebuilt = try Gemm(attributes: op.attributes)
        #expect(rebuilt.isEquivalent(to: op))
    }

    @Test func gemmInfersAndChecksShapes() throws {
        let op = try Gemm(attributes: attrs("gemm", [("transB", .int(1))]))
        let a = TensorType(.f32, ["batch", 768]), b = TensorType(.f32, [1000, 768]), c = TensorType(.f32, [1000])
        #expect(try op.inferTypes(OpInputs("gemm", types: [a, b, c]), outputCount: 1) == [TensorType(.f32, ["batch", 1000])])
        #expect(throws: EmberError.self) {
            try op.inferTypes(OpInputs("gemm", types: [a, TensorType(.f32, [1000, 512])]), outputCount: 1)
        }
        #expect(throws: EmberError.self) {
            try op.inferTypes(OpInputs("gemm", types: [a, b, TensorType(.f32, [1, 999])]), outputCount: 1)
        }
        #expect(throws: EmberError.self) {
            try op.evaluate([Tensor(shape: [2, 3], floats: Array(repeating: 1, count: 6)), Tensor(shape: [3], floats: [1, 2, 3])], outputCount: 1)
        }
        #expect(throws: EmberError.self) { try Gemm(attributes: attrs("gemm", [("bogus", .int(1))])) }
    }

    @Test func einsumInfersOutputs() throws {
        let op = try Einsum(attributes: attrs("einsum", [("equation", .string("bhqd,bhkd->bhqk"))]))
        let q = TensorType(.f32, ["b", 12, "s", 64]), k = TensorType(.f32, ["b", 12, "t", 64])
        #expect(try op.inferTypes(OpInputs("einsum", types: [q, k]), outputCount: 1) == [TensorType(.f32, ["b", 12, "s", "t"])])
        let implicit = try Einsum(attributes: attrs("einsum", [("equation", .string("...ij,...jk"))]))
        let x = TensorType(.f32, ["n", 2, 3]), y = TensorType(.f32, [1, 3, 4])
        #expect(try implicit.inferTypes(OpInputs("einsum", types: [x, y]), outputCount: 1) == [TensorType(.f32, ["n", 2, 4])])
    }

    @Test func einsumEvaluatesCommonForms() throws {
        let m = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        func run(_ eq: String, _ inputs: [Tensor]) throws -> Tensor {
            try evaluateOp(try Einsum(attributes: attrs("einsum", [("equation", .string(eq))])), inputs)[0]
        }
        #expect(try run("ij->ji", [m]) == Tensor(shape: [3, 2], floats: [1, 4, 2, 5, 3, 6]))
        #expect(try run("ij->i", [m]) == Tensor(shape: [2], floats: [6, 15]))
        #expect(try run("ij->", [m]) == Tensor(shape: [], floats: [21]))
        let sq = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        #expect(try run("ii->i", [sq]) == Tensor(shape: [2], floats: [1, 4]))
        #expect(try run("ii", [sq]) == Tensor(shape: [], floats: [5]))
        #expect(try run("ij,jk->ik", [sq, sq]) == Tensor(shape: [2, 2], floats: [7, 10, 15, 22]))
        #expect(try run("i,j->ij", [Tensor(shape: [2], floats: [1, 2]), Tensor(shape: [2], floats: [3, 4])])
            == Tensor(shape: [2, 2], floats: [3, 4, 6, 8]))
    }

    @Test func einsumRejectsBadEquations() {
        let m = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        for eq in ["ij,jk->ik", "ijk->i", "ij->k", "i1->i", "ij->ii", "ij->i->j"] {
            #expect(throws: EmberError.self) {
                try evaluateOp(try Einsum(attributes: Attributes(op: "einsum", [("equation", .string(eq))])), [m])
            }
        }
        #expect(throws: EmberError.self) {
            try evaluateOp(try Einsum(attributes: Attributes(op: "einsum", [("equation", .string("ij,ij->ij"))])), [m, Tensor(shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])])
        }
        #expect(throws: EmberError.self) { try Einsum(attributes: Attributes(op: "einsum")) }
    }
}
