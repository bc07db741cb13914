import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct ReductionTests {
    let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])

    func axes(_ a: [Int64]) -> Tensor { Tensor(shape: [a.count], int64s: a) }

    @Test func reduceSumKeepsSymbolicDims() throws {
        let t = TensorType(.f32, ["batch", 3, 4])
        let out = try ReduceSum(keepdims: false).inferTypes(
            OpInputs("reduce_sum", types: [t, TensorType(.i64, known: [1])], constants: [nil, axes([-1])]),
            outputCount: 1)
        #expect(out == [TensorType(.f32, ["batch", 3])])
        let kept = try ReduceMean().inferTypes(
            OpInputs("reduce_mean", types: [t, TensorType(.i64, known: [1])], constants: [nil, axes([0])]),
            outputCount: 1)
        #expect(kept == [TensorType(.f32, [1, 3, 4])])
    }

    @Test func reduceWithRuntimeAxesHasUnknownDims() throws {
        let t = TensorType(.f32, ["batch", 3, 1])
        let axesType = TensorType(.i64, known: [2])
        let kept = try ReduceMax().inferTypes(OpInputs("reduce_max", types: [t, axesType]), outputCount: 1)
        #expect(kept == [TensorType(.f32, [.unknown, .unknown, 1])])
        let dropped = try ReduceMax(keepdims: false).inferTypes(
            OpInputs("reduce_max", types: [t, axesType]), outputCount: 1)
        #expect(dropped == [TensorType(.f32, [.unknown])])
    }

    @Test func reduceEvaluatesEachKind() throws {
        let rows = axes([1])
        func run(_ op: any Operator) throws -> [Double] { try evaluateOp(op, [x, rows])[0].doubles() }
        #expect(try run(ReduceSum(keepdims: false)) == [6, 15])
        #expect(try run(ReduceMean(keepdims: false)) == [2, 5])
        #expect(try run(ReduceMax(keepdims: false)) == [3, 6])
        #expect(try run(ReduceMin(keepdims: false)) == [1, 4])
        #expect(try run(ReduceProd(keepdims: false)) == [6, 120])
        #expect(try run(ReduceL1(keepdims: false)) == [6, 15])
        #expect(try run(ReduceSumSquare(keepdims: false)) == [14, 77])
        let l2 = try run(ReduceL2(keepdims: false))
        #expect(abs(l2[0] - 14.0.squareRoot()) < 1e-6)
        let lse = try run(ReduceLogSumExp(keepdims: false))
        #expect(abs(lse[0] - 3.40760596) < 1e-6)
        let logSum = try run(ReduceLogSum(keepdims: false))
        #expect(abs(logSum[1] - 2.7080502) < 1e-6)
    }

    @Test func reduceOverColumnsAndAllAxes() throws {
        let y = try evaluateOp(ReduceSum(), [x, axes([0])])[0]
        #expect(y == Tensor(shape: [1, 3], floats: [5, 7, 9]))
        let all = try evaluateOp(ReduceSum(keepdims: false), [x, nil])[0]
        #expect(all == Tensor(shape: [], floats: [21]))
    }

    @Test func emptyAxesWithNoopIsElementwise() throws {
        let y = try evaluateOp(ReduceSumSquare(noopWithEmptyAxes: true), [x, axes([])])[0]
        #expect(y == Tensor(shape: [2, 3], floats: [1, 4, 9, 16, 25, 36]))
    }

    @Test func emptyReductionGivesIdentities() throws {
        let empty = Tensor(shape: [2, 0], floats: [])
        #expect(try evaluateOp(ReduceSum(keepdims: false), [empty, axes([1])])[0].doubles() == [0, 0])
        #expect(try evaluateOp(ReduceMax(keepdims: false), [empty, axes([1])])[0].doubles() == [-.infinity, -.infinity])
        #expect(try evaluateOp(ReduceProd(keepdims: false), [empty, axes([1])])[0].doubles() == [1, 1])
    }

    @Test func integerReductions() throws {
        let i = Tensor(.i32, shape: [2, 2], int64s: [-3, 4, 7, -2])
        #expect(try evaluateOp(ReduceMean(keepdims: false), [i, axes([1])])[0] == Tensor(.i32, shape: [2], int64s: [0, 2]))
        #expect(try evaluateOp(ReduceL1(keepdims: false), [i, axes([1])])[0] == Tensor(.i32, shape: [2], int64s: [7, 9]))
        let u = Tensor(.u64, shape: [2], int64s: [-1, 5])
        #expect(try evaluateOp(ReduceMax(keepdims: false), [u, nil])[0] == Tensor(.u64, shape: [], int64s: [-1]))
        let b = Tensor(shape: [3], bools: [false, true, false])
        #expect(try evaluateOp(ReduceMax(keepdims: false), [b, nil])[0] == Tensor(shape: [], bools: [true]))
    }

    @Test func reduceRefusesBadAxesAndDtypes() throws {
        #expect(throws: EmberError.self) { try evaluateOp(ReduceSum(), [x, axes([2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ReduceSum(), [x, axes([1, -1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ReduceSum(), [x, Tensor(.i32, shape: [1], int64s: [0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ReduceSum(), [Tensor(shape: [1], bools: [true]), nil]) }
        #expect(throws: EmberError.self) {
            try ReduceSum(attributes: Attributes(op: "reduce_sum", [("axes", .ints([0]))]))
        }
    }

    @Test func reduceAttributesRoundTrip() throws {
        let op = ReduceMean(keepdims: false, noopWithEmptyAxes: true)
        #expect(try ReduceMean(attributes: op.attributes).isEquivalent(to: op))
    }

    @Test func argMaxTiesAndLastIndex() throws {
        let t = Tensor(shape: [2, 3], floats: [1, 3, 3, 2, 2, 0])
        #expect(try evaluateOp(ArgMax(axis: 1), [t])[0] == Tensor(shape: [2, 1], int64s: [1, 0]))
        #expect(
            try evaluateOp(ArgMax(axis: -1, keepdims: false, selectLastIndex: true), [t])[0]
                == Tensor(shape: [2], int64s: [2, 1]))
        #expect(try evaluateOp(ArgMin(axis: 0, keepdims: false), [t])[0] == Tensor(shape: [3], int64s: [0, 1, 1]))
        let out = try ArgMax(axis: 0, keepdims: false).inferTypes(
            OpInputs("arg_max", types: [TensorType(.f32, ["n", 4])]), outputCount: 1)
        #expect(out == [TensorType(.i64, [4])])
        #expect(throws: EmberError.self) { try evaluateOp(ArgMax(axis: 2), [t]) }
        #expect(throws: EmberError.self) { try evaluateOp(ArgMax(axis: 1), [Tensor(shape: [2, 0], floats: [])]) }
    }

    @Test func softmaxFamily() throws {
        let t = Tensor(shape: [2, 2], floats: [0, 0, 1, 1])
        #expect(try evaluateOp(Softmax(), [t])[0] == Tensor(shape: [2, 2], floats: [0.5, 0.5, 0.5, 0.5]))
        let columns = try evaluateOp(Softmax(axis: 0), [t])[0].doubles()
        #expect(abs(columns[0] - 0.26894142) < 1e-6 && abs(columns[2] - 0.73105858) < 1e-6)
        let log = try evaluateOp(LogSoftmax(), [t])[0].doubles()
        #expect(abs(log[0] + 0.69314718) < 1e-6)
        let hard = try evaluateOp(Hardmax(axis: 0), [Tensor(shape: [2, 2], floats: [1, 5, 1, 2])])[0]
        #expect(hard == Tensor(shape: [2, 2], floats: [1, 1, 0, 0]))
        let big = try evaluateOp(Softmax(), [Tensor(shape: [2], floats: [1000, 1000])])[0]
        #expect(big == Tensor(shape: [2], floats: [0.5, 0.5]))
        #expect(throws: EmberError.self) { try evaluateOp(Softmax(axis: 2), [t]) }
        #expect(throws: EmberError.self) { try evaluateOp(Softmax(), [Tensor(shape: [2], int64s: [1, 2])]) }
        let sym = TensorType(.f16, ["b", 12, "s", "s"])
        #expect(try Softmax().inferTypes(OpInputs("softmax", types: [sym]), outputCount: 1) == [sym])
    }

    @Test func cumSumExclusiveReverse() throws {
        let v = Tensor(shape: [3], floats: [1, 2, 3])
        let axis = Tensor(shape: [], int64s: [0])
        #expect(try evaluateOp(CumSum(), [v, axis])[0] == Tensor(shape: [3], floats: [1, 3, 6]))
        #expect(try evaluateOp(CumSum(exclusive: true), [v, axis])[0] == Tensor(shape: [3], floats: [0, 1, 3]))
        #expect(try evaluateOp(CumSum(reverse: true), [v, axis])[0] == Tensor(shape: [3], floats: [6, 5, 3]))
        #expect(
            try evaluateOp(CumSum(exclusive: true, reverse: true), [v, axis])[0] == Tensor(shape: [3], floats: [5, 3, 0]))
        let m = Tensor(.i32, shape: [2, 2], int64s: [1, 2, 3, 4])
        let rows = Tensor(.i32, shape: [1], int64s: [-1])
        #expect(try evaluateOp(CumSum(), [m, rows])[0] == Tensor(.i32, shape: [2, 2], int64s: [1, 3, 3, 7]))
        #expect(throws: EmberError.self) { try evaluateOp(CumSum(), [v, Tensor(shape: [], int64s: [1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(CumSum(), [v, Tensor(shape: [2], int64s: [0, 0])]) }
    }

    @Test func topKOrdersTiesByIndex() throws {
        let t = Tensor(shape: [1, 5], floats: [3, 1, 3, 5, 1])
        let k = Tensor(shape: [1], int64s: [3])
        let largest = try evaluateOp(TopK(), [t, k], outputs: 2)
        #expect(largest[0] == Tensor(shape: [1, 3], floats: [5, 3, 3]))
        #expect(largest[1] == Tensor(shape: [1, 3], int64s: [3, 0, 2]))
        let smallest = try evaluateOp(TopK(largest: false), [t, k], outputs: 2)
        #expect(smallest[0] == Tensor(shape: [1, 3], floats: [1, 1, 3]))
        #expect(smallest[1] == Tensor(shape: [1, 3], int64s: [1, 4, 0]))
        let columns = try evaluateOp(TopK(axis: 0), [Tensor(shape: [2, 2], floats: [1, 4, 2, 3]), Tensor(shape: [1], int64s: [1])], outputs: 2)
        #expect(columns[0] == Tensor(shape: [1, 2], floats: [2, 4]))
        #expect(columns[1] == Tensor(shape: [1, 2], int64s: [1, 0]))
    }

    @Test func topKTypesAndErrors() throws {
        let t = TensorType(.f32, ["batch", 10])
        let out = try TopK().inferTypes(
            OpInputs("top_k", types: [t, TensorType(.i64, known: [1])], constants: [nil, Tensor(shape: [1], int64s: [4])]),
            outputCount: 2)
        #expect(out == [TensorType(.f32, ["batch", 4]), TensorType(.i64, ["batch", 4])])
        let runtime = try TopK().inferTypes(OpInputs("top_k", types: [t, TensorType(.i64, known: [1])]), outputCount: 2)
        #expect(runtime[1] == TensorType(.i64, ["batch", .unknown]))
        let x = Tensor(shape: [3], floats: [1, 2, 3])
        #expect(throws: EmberError.self) { try evaluateOp(TopK(), [x, Tensor(shape: [1], int64s: [4])], outputs: 2) }
        #expect(throws: EmberError.self) { try evaluateOp(TopK(), [x, Tensor(shape: [1], int64s: [-1])], outputs: 2) }
        #expect(throws: EmberError.self) { try evaluateOp(TopK(axis: 1), [x, Tensor(shape: [1], int64s: [1])], outputs: 2) }
    }
}
