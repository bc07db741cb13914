import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// Type inference of one op, with some inputs known as constants.
func inferDM(_ op: any Operator, _ types: [TensorType?], _ constants: [Tensor?] = [], outputs: Int = 1) throws
    -> [TensorType]
{
    let padded = constants + [Tensor?](repeating: nil, count: max(0, types.count - constants.count))
    return try op.inferTypes(OpInputs(op.name, types: types, constants: padded), outputCount: outputs)
}

func i64(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], int64s: values.map(Int64.init)) }
func i64Type(_ n: Int) -> TensorType { TensorType(.i64, known: [n]) }
func f32(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(shape: shape, floats: values) }
func iota(_ shape: [Int], _ dtype: DType = .f32) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor(dtype, shape: shape, doubles: (0..<n).map(Double.init))
}

@Suite struct DataMovementShapeTests {
    @Test func reshapeKeepsSymbolsThroughZeroAndMinusOne() throws {
        let x = TensorType(.f32, ["batch", 128, 768])
        #expect(try inferDM(Reshape(), [x, i64Type(4)], [nil, i64([0, 0, 12, 64])]) == [TensorType(.f32, ["batch", 128, 12, 64])])
        #expect(try inferDM(Reshape(), [x, i64Type(2)], [nil, i64([0, -1])]) == [TensorType(.f32, ["batch", 98304])])
        #expect(try inferDM(Reshape(), [x, i64Type(3)], [nil, i64([-1, 128, 768])]) == [TensorType(.f32, ["batch", 128, 768])])
        #expect(try inferDM(Reshape(), [x, i64Type(2)], [nil, i64([-1, 768])]) == [TensorType(.f32, [.unknown, 768])])
        let y = TensorType(.f32, ["batch", 12, 128, 64])
        #expect(try inferDM(Reshape(), [y, i64Type(3)], [nil, i64([0, -1, 64])]) == [TensorType(.f32, ["batch", 1536, 64])])
    }

    @Test func reshapeWithRuntimeShapeKnowsOnlyTheRank() throws {
        let x = TensorType(.f32, ["batch", 128, 768])
        #expect(try inferDM(Reshape(), [x, i64Type(4)]) == [TensorType(.f32, [.unknown, .unknown, .unknown, .unknown])])
        #expect(try inferDM(Reshape(), [x, TensorType(.i64, [.unknown])]) == [TensorType(.f32, nil)])
    }

    @Test func reshapeEvaluatesAndRejectsBadShapes() throws {
        let x = iota([2, 3, 4])
        #expect(try evaluateOp(Reshape(), [x, i64([0, -1])])[0].shape == [2, 12])
        #expect(try evaluateOp(Reshape(allowZero: true), [iota([0, 3]), i64([3, 0])])[0].shape == [3, 0])
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(), [x, i64([5, -1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(), [x, i64([-1, -1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(), [x, i64([7, 2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(), [x, i64([-2, 12])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(allowZero: true), [x, i64([0, -1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(), [x, i64([0, 0, 0, 0])]) }
    }

    @Test func flattenShapes() throws {
        #expect(try inferDM(Flatten(axis: 1), [TensorType(.f32, ["batch", 3, 4])]) == [TensorType(.f32, ["batch", 12])])
        #expect(try inferDM(Flatten(axis: 2), [TensorType(.f32, ["batch", 3, 4])]) == [TensorType(.f32, [.unknown, 4])])
        #expect(try inferDM(Flatten(axis: 0), [TensorType(.f32, [2, 3])]) == [TensorType(.f32, [1, 6])])
        #expect(try inferDM(Flatten(axis: -1), [TensorType(.f32, [2, 3, 4])]) == [TensorType(.f32, [6, 4])])
        #expect(try evaluateOp(Flatten(axis: 3), [iota([2, 3, 4])])[0].shape == [24, 1])
        #expect(throws: EmberError.self) { try evaluateOp(Flatten(axis: 4), [iota([2, 3, 4])]) }
    }

    @Test func transposePermutes() throws {
        let t = TensorType(.f32, ["batch", 128, 12, 64])
        #expect(try inferDM(Transpose(perm: [0, 2, 1, 3]), [t]) == [TensorType(.f32, ["batch", 12, 128, 64])])
        #expect(try inferDM(Transpose(), [TensorType(.f32, ["a", 2, 3])]) == [TensorType(.f32, [3, 2, "a"])])
        let y = try evaluateOp(Transpose(perm: [1, 0]), [iota([2, 3])])[0]
        #expect(y == f32([3, 2], [0, 3, 1, 4, 2, 5]))
        let z = try evaluateOp(Transpose(), [iota([2, 3, 2], .i32)])[0]
        #expect(z.shape == [2, 3, 2] && z.dtype == .i32)
        #expect(z.ints() == [0, 6, 2, 8, 4, 10, 1, 7, 3, 9, 5, 11])
        #expect(throws: EmberError.self) { try evaluateOp(Transpose(perm: [0, 0]), [iota([2, 3])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Transpose(perm: [0, 1, 2]), [iota([2, 3])]) }
    }

    @Test func squeezeAndUnsqueeze() throws {
        let x = TensorType(.f32, ["batch", 1, 4, 1])
        #expect(try inferDM(Squeeze(), [x, i64Type(1)], [nil, i64([-1])]) == [TensorType(.f32, ["batch", 1, 4])])
        #expect(try inferDM(Squeeze(), [x]) == [TensorType(.f32, nil)])
        #expect(try inferDM(Squeeze(), [TensorType(.f32, [1, 3, 1])]) == [TensorType(.f32, [3])])
        #expect(try inferDM(Squeeze(), [x, i64Type(2)]) == [TensorType(.f32, [.unknown, .unknown])])
        #expect(throws: EmberError.self) { try inferDM(Squeeze(), [x, i64Type(1)], [nil, i64([2])]) }
        #expect(try evaluateOp(Squeeze(), [iota([1, 3, 1])])[0].shape == [3])
        #expect(try evaluateOp(Squeeze(), [iota([1, 3, 1]), i64([])])[0].shape == [3])
        #expect(try evaluateOp(Squeeze(), [iota([1, 3, 1]), i64([0])])[0].shape == [3, 1])
        #expect(throws: EmberError.self) { try evaluateOp(Squeeze(), [iota([1, 3, 1]), i64([1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Squeeze(), [Tensor(scalar: 1, .f32), i64([0])]) }

        let u = TensorType(.f32, ["batch", 4])
        #expect(try inferDM(Unsqueeze(), [u, i64Type(2)], [nil, i64([1, -1])]) == [TensorType(.f32, ["batch", 1, 4, 1])])
        #expect(try inferDM(Unsqueeze(), [u, i64Type(2)]) == [TensorType(.f32, [.unknown, .unknown, .unknown, .unknown])])
        #expect(try evaluateOp(Unsqueeze(), [iota([3]), i64([0, 2])])[0].shape == [1, 3, 1])
        #expect(try evaluateOp(Unsqueeze(), [Tensor(scalar: 1, .f32), i64([0])])[0].shape == [1])
        #expect(throws: EmberError.self) { try evaluateOp(Unsqueeze(), [iota([3]), i64([0, 0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Unsqueeze(), [iota([3]), i64([3])]) }
    }

    @Test func concatJoinsAlongAxis() throws {
        let a = TensorType(.f32, ["batch", 3])
        let b = TensorType(.f32, ["batch", 5])
        #expect(try inferDM(Concat(axis: 1), [a, b]) == [TensorType(.f32, ["batch", 8])])
        #expect(try inferDM(Concat(axis: 0), [a, a]) == [TensorType(.f32, [.unknown, 3])])
        #expect(try inferDM(Concat(axis: 0), [a, TensorType(.f32, [0, 3])]) == [TensorType(.f32, ["batch", 3])])
        #expect(try inferDM(Concat(axis: -1), [TensorType(.f32, [.unknown, 3]), TensorType(.f32, [2, 1])]) == [TensorType(.f32, [2, 4])])
        #expect(throws: EmberError.self) { try inferDM(Concat(axis: 1), [a, TensorType(.f32, [2, 3, 1])]) }
        #expect(throws: EmberError.self) { try inferDM(Concat(axis: 1), [a, TensorType(.i64, ["batch", 3])]) }
        let y = try evaluateOp(Concat(axis: 1), [iota([2, 1]), f32([2, 2], [10, 11, 12, 13])])[0]
        #expect(y == f32([2, 3], [0, 10, 11, 1, 12, 13]))
        let z = try evaluateOp(Concat(axis: 0), [Tensor(shape: [1], bools: [true]), Tensor(shape: [2], bools: [false, true])])[0]
        #expect(z == Tensor(shape: [3], bools: [true, false, true]))
        #expect(throws: EmberError.self) { try evaluateOp(Concat(axis: 0), [iota([2, 1]), iota([2, 2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Concat(axis: 2), [iota([2, 1]), iota([2, 1])]) }
    }

    @Test func splitPieces() throws {
        let x = TensorType(.f32, ["batch", 10])
        let even = try inferDM(Split(axis: 1, numOutputs: 3), [x], outputs: 3)
        #expect(even.map(\.shape) == [["batch", 4], ["batch", 4], ["batch", 2]])
        let given = try inferDM(Split(axis: -1), [x, i64Type(2)], [nil, i64([3, 7])], outputs: 2)
        #expect(given.map(\.shape) == [["batch", 3], ["batch", 7]])
        let symbolic = try inferDM(Split(axis: 0), [x], outputs: 2)
        #expect(symbolic.map(\.shape) == [[.unknown, 10], [.unknown, 10]])
        let parts = try evaluateOp(Split(axis: 1, numOutputs: 2), [iota([2, 3])], outputs: 2)
        #expect(parts[0] == f32([2, 2], [0, 1, 3, 4]))
        #expect(parts[1] == f32([2, 1], [2, 5]))
        let halves = try evaluateOp(Split(axis: 0), [iota([4], .i64)], outputs: 2)
        #expect(halves.map { $0.ints() } == [[0, 1], [2, 3]])
        #expect(throws: EmberError.self) { try evaluateOp(Split(axis: 0), [iota([5])], outputs: 2) }
        #expect(throws: EmberError.self) { try evaluateOp(Split(axis: 0), [iota([5]), i64([2, 2])], outputs: 2) }
        #expect(throws: EmberError.self) { try evaluateOp(Split(axis: 0, numOutputs: 3), [iota([5])], outputs: 2) }
    }

    @Test func sliceShapes() throws {
        let x = TensorType(.f32, ["batch", 10, 8])
        let big = Int(Int64.max)
        #expect(
            try inferDM(SliceOp(), [x, i64Type(1), i64Type(1), i64Type(1)], [nil, i64([1]), i64([big]), i64([1])])
                == [TensorType(.f32, ["batch", 9, 8])])
        #expect(
            try inferDM(SliceOp(), [x, i64Type(2), i64Type(2)], [nil, i64([0, -3]), i64([big, -1])])
                == [TensorType(.f32, ["batch", 2, 8])])
        #expect(
            try inferDM(SliceOp(), [x, i64Type(1), i64Type(1), i64Type(1)], [nil, i64([1]), i64([3]), i64([0])])
                == [TensorType(.f32, [.unknown, 10, 8])])
        #expect(
            try inferDM(SliceOp(), [x, i64Type(1), i64Type(1), i64Type(1)], [nil, nil, nil, i64([2])])
                == [TensorType(.f32, ["batch", 10, .unknown])])
        #expect(
            try inferDM(SliceOp(), [x, i64Type(1), i64Type(1), i64Type(1), i64Type(1)], [nil, i64([-1]), i64([Int(Int64.min)]), i64([1]), i64([-1])])
                == [TensorType(.f32, ["batch", 10, 8])])
    }

    @Test func sliceEvaluates() throws {
        let x = iota([3, 4])
        #expect(try evaluateOp(SliceOp(), [x, i64([1, 1]), i64([3, 3])])[0] == f32([2, 2], [5, 6, 9, 10]))
        let reversed = try evaluateOp(SliceOp(), [x, i64([-1]), i64([Int(Int64.min)]), i64([1]), i64([-1])])[0]
        #expect(reversed == f32([3, 4], [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8]))
        let stepped = try evaluateOp(SliceOp(), [x, i64([0, 3]), i64([100, 0]), i64([0, 1]), i64([2, -2])])[0]
        #expect(stepped == f32([2, 2], [3, 1, 11, 9]))
        let empty = try evaluateOp(SliceOp(), [x, i64([3]), i64([1]), i64([1])])[0]
        #expect(empty.shape == [3, 0])
        let clamped = try evaluateOp(SliceOp(), [x, i64([-100]), i64([100]), i64([-1])])[0]
        #expect(clamped == x)
        #expect(throws: EmberError.self) { try evaluateOp(SliceOp(), [x, i64([0]), i64([1]), i64([0]), i64([0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(SliceOp(), [x, i64([0]), i64([1]), i64([2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(SliceOp(), [x, i64([0, 0]), i64([1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(SliceOp(), [x, i64([0, 0]), i64([1, 1]), i64([1, -1])]) }
    }

    @Test func shapeAndSize() throws {
        #expect(try inferDM(Shape(), [TensorType(.f32, ["batch", 3])]) == [TensorType(.i64, [2])])
        #expect(try inferDM(Shape(start: -1), [TensorType(.f32, ["batch", 3, 4])]) == [TensorType(.i64, [1])])
        #expect(try inferDM(Shape(), [TensorType(.f32, nil)]) == [TensorType(.i64, [.unknown])])
        #expect(try evaluateOp(Shape(start: 1, end: -1), [iota([2, 3, 4, 5])])[0] == i64([3, 4]))
        #expect(try evaluateOp(Shape(start: 3, end: 1), [iota([2, 3, 4, 5])])[0] == i64([]))
        #expect(try evaluateOp(Shape(start: -10, end: 10), [iota([2, 3])])[0] == i64([2, 3]))
        #expect(try inferDM(Size(), [TensorType(.f32, ["batch", 3])]) == [TensorType(.i64, [])])
        #expect(try evaluateOp(Size(), [iota([2, 3])])[0] == Tensor(shape: [], int64s: [6]))
    }

    @Test func expandBroadcastsBothWays() throws {
        let x = TensorType(.f32, ["batch", 1, 4])
        #expect(try inferDM(Expand(), [x, i64Type(3)], [nil, i64([1, 3, 1])]) == [TensorType(.f32, ["batch", 3, 4])])
        #expect(try inferDM(Expand(), [x, i64Type(4)]) == [TensorType(.f32, [.unknown, .unknown, .unknown, 4])])
        let y = try evaluateOp(Expand(), [f32([2, 1], [1, 2]), i64([2, 3])])[0]
        #expect(y == f32([2, 3], [1, 1, 1, 2, 2, 2]))
        let z = try evaluateOp(Expand(), [f32([3], [1, 2, 3]), i64([2, 1])])[0]
        #expect(z == f32([2, 3], [1, 2, 3, 1, 2, 3]))
        #expect(throws: EmberError.self) { try evaluateOp(Expand(), [iota([3]), i64([2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Expand(), [iota([3]), i64([-1])]) }
    }

    @Test func tileRepeats() throws {
        #expect(try inferDM(Tile(), [TensorType(.f32, ["batch", 3]), i64Type(2)], [nil, i64([1, 2])]) == [TensorType(.f32, ["batch", 6])])
        #expect(try inferDM(Tile(), [TensorType(.f32, ["batch", 3]), i64Type(2)]) == [TensorType(.f32, [.unknown, .unknown])])
        let y = try evaluateOp(Tile(), [f32([1, 2], [1, 2]), i64([2, 2])])[0]
        #expect(y == f32([2, 4], [1, 2, 1, 2, 1, 2, 1, 2]))
        #expect(throws: EmberError.self) { try evaluateOp(Tile(), [iota([2]), i64([1, 1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Tile(), [iota([2]), i64([-1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Tile(), [iota([2]), i64([Int.max])]) }
    }

    @Test func constantsAndRanges() throws {
        let c = try Constant(attributes: Attributes(op: "constant", [("value_ints", .ints([1, 2, 3]))]))
        #expect(try inferDM(c, []) == [TensorType(.i64, [3])])
        #expect(try evaluateOp(c, [])[0] == i64([1, 2, 3]))
        #expect(try Constant(attributes: c.attributes).attributes == c.attributes)
        let f = try Constant(attributes: Attributes(op: "constant", [("value_float", .float(2.5))]))
        #expect(try evaluateOp(f, [])[0] == Tensor(.f32, shape: [], doubles: [2.5]))
        #expect(throws: EmberError.self) { try Constant(attributes: Attributes(op: "constant")) }
        #expect(throws: EmberError.self) {
            try Constant(attributes: Attributes(op: "constant", [("value_int", .int(1)), ("value_float", .float(1))]))
        }
        #expect(throws: EmberError.self) { try Constant(attributes: Attributes(op: "constant", [("value_string", .string("a"))])) }

        let cos = ConstantOfShape(value: Tensor(shape: [1], int64s: [7]))
        #expect(try inferDM(cos, [i64Type(2)], [i64([2, 3])]) == [TensorType(.i64, [2, 3])])
        #expect(try inferDM(cos, [i64Type(2)]) == [TensorType(.i64, [.unknown, .unknown])])
        #expect(try evaluateOp(cos, [i64([2, 2])])[0] == Tensor(shape: [2, 2], int64s: [7, 7, 7, 7]))
        #expect(try evaluateOp(ConstantOfShape(), [i64([])])[0] == Tensor(shape: [], floats: [0]))
        #expect(throws: EmberError.self) { try evaluateOp(cos, [i64([2, -1])]) }

        let s = Tensor(shape: [], int64s: [0])
        #expect(try inferDM(RangeOp(), [s.type, s.type, s.type], [s, Tensor(shape: [], int64s: [10]), Tensor(shape: [], int64s: [3])]) == [TensorType(.i64, [4])])
        #expect(try inferDM(RangeOp(), [s.type, s.type, s.type]) == [TensorType(.i64, [.unknown])])
        let r = try evaluateOp(RangeOp(), [s, Tensor(shape: [], int64s: [10]), Tensor(shape: [], int64s: [3])])[0]
        #expect(r == Tensor(shape: [4], int64s: [0, 3, 6, 9]))
        let down = try evaluateOp(RangeOp(), [Tensor(scalar: 1, .f32), Tensor(scalar: -1, .f32), Tensor(scalar: -0.5, .f32)])[0]
        #expect(down == f32([4], [1, 0.5, 0, -0.5]))
        let none = try evaluateOp(RangeOp(), [Tensor(scalar: 5, .i32), Tensor(scalar: 1, .i32), Tensor(scalar: 1, .i32)])[0]
        #expect(none.shape == [0] && none.dtype == .i32)
        #expect(throws: EmberError.self) { try evaluateOp(RangeOp(), [s, s, s]) }
        #expect(throws: EmberError.self) {
            try evaluateOp(RangeOp(), [Tensor(scalar: 0, .f32), Tensor(scalar: 1, .f32), Tensor(scalar: 0, .f32)])
        }
    }

    @Test func identityAndDropout() throws {
        let x = iota([2, 2])
        #expect(try evaluateOp(Identity(), [x])[0] == x)
        let outs = try evaluateOp(Dropout(), [x, Tensor(scalar: 0.3, .f32)], outputs: 2)
        #expect(outs[0] == x)
        #expect(outs[1] == Tensor(shape: [2, 2], bools: [true, true, true, true]))
        let types = try inferDM(Dropout(), [TensorType(.f32, ["batch", 2])], outputs: 2)
        #expect(types == [TensorType(.f32, ["batch", 2]), TensorType(.bool, ["batch", 2])])
        #expect(throws: EmberError.self) {
            try evaluateOp(Dropout(), [x, Tensor(scalar: 0.3, .f32), Tensor(shape: [], bools: [true])])
        }
        #expect(try evaluateOp(Dropout(), [x, Tensor(scalar: 0, .f32), Tensor(shape: [], bools: [true])])[0] == x)
    }

    @Test func attributesRoundTrip() throws {
        let ops: [any Operator] = [
            Reshape(allowZero: true), Flatten(axis: -2), Transpose(perm: [1, 0]), Concat(axis: 2),
            Split(axis: 1, numOutputs: 3), Gather(axis: 1), GatherElements(axis: -1), GatherND(batchDims: 1),
            ScatterND(reduction: .add), ScatterElements(axis: 1, reduction: .max), Pad(mode: .reflect),
            DepthToSpace(blockSize: 2, mode: .crd), SpaceToDepth(blockSize: 3, mode: .crd), Resize(mode: .cubic),
            Shape(start: 1, end: 3), ConstantOfShape(), EyeLike(dtype: .f16, k: 1), OneHot(axis: 0),
            Dropout(seed: 3), Trilu(upper: false), Compress(axis: 1), ReverseSequence(batchAxis: 0, timeAxis: 1),
        ]
        for op in ops {
            let rebuilt = try OperatorRegistry.standard.make(op.name, op.attributes)
            #expect(rebuilt.isEquivalent(to: op), "\(op.name)")
            #expect(OperatorRegistry.standard.lookup(op.name) != nil)
        }
        #expect(throws: EmberError.self) { try OperatorRegistry.standard.make("flatten", Attributes(op: "flatten", [("axes", .int(1))])) }
        #expect(throws: EmberError.self) { try OperatorRegistry.standard.make("pad", Attributes(op: "pad", [("mode", .string("mirror"))])) }
        #expect(throws: EmberError.self) { try OperatorRegistry.standard.make("resize", Attributes(op: "resize", [("mode", .string("area"))])) }
        #expect(throws: EmberError.self) { try OperatorRegistry.standard.make("concat", Attributes(op: "concat")) }
        #expect(throws: EmberError.self) { try OperatorRegistry.standard.make("depth_to_space", Attributes(op: "depth_to_space", [("blocksize", .int(0))])) }
    }
}
