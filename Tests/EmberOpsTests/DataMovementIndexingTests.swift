import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct DataMovementIndexingTests {
    @Test func gatherShapesAndValues() throws {
        let table = TensorType(.f32, [30522, 768])
        #expect(try inferDM(Gather(), [table, TensorType(.i64, ["batch", 128])]) == [TensorType(.f32, ["batch", 128, 768])])
        #expect(try inferDM(Gather(axis: 1), [TensorType(.f32, ["b", 5, 2]), TensorType(.i64, [])]) == [TensorType(.f32, ["b", 2])])
        let x = iota([3, 2])
        #expect(try evaluateOp(Gather(), [x, i64([2, -3])])[0] == f32([2, 2], [4, 5, 0, 1]))
        #expect(try evaluateOp(Gather(axis: 1), [x, Tensor(shape: [], int64s: [1])])[0] == f32([3], [1, 3, 5]))
        let idx = Tensor(.i32, shape: [2, 2], int64s: [0, 1, 1, 0])
        #expect(try evaluateOp(Gather(axis: -1), [iota([2, 2], .u8), idx])[0].ints() == [0, 1, 1, 0, 2, 3, 3, 2])
        #expect(throws: EmberError.self) { try evaluateOp(Gather(), [x, i64([3])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Gather(), [x, i64([-4])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Gather(axis: 2), [x, i64([0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Gather(), [x, f32([1], [0])]) }
    }

    @Test func gatherElementsAndND() throws {
        let x = f32([2, 2], [1, 2, 3, 4])
        let idx = Tensor(shape: [2, 2], int64s: [0, 0, 1, 0])
        #expect(try evaluateOp(GatherElements(axis: 1), [x, idx])[0] == f32([2, 2], [1, 1, 4, 3]))
        #expect(try evaluateOp(GatherElements(axis: 0), [x, Tensor(shape: [1, 2], int64s: [1, -2])])[0] == f32([1, 2], [3, 2]))
        #expect(try inferDM(GatherElements(axis: 1), [TensorType(.f32, ["b", 4]), TensorType(.i64, ["b", 2])]) == [TensorType(.f32, ["b", 2])])
        #expect(throws: EmberError.self) { try evaluateOp(GatherElements(axis: 1), [x, Tensor(shape: [2, 1], int64s: [2, 0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(GatherElements(axis: 1), [x, Tensor(shape: [2], int64s: [0, 0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(GatherElements(axis: 1), [x, Tensor(shape: [3, 1], int64s: [0, 0, 0])]) }

        let nd = try evaluateOp(GatherND(), [x, Tensor(shape: [2, 2], int64s: [0, 0, 1, 1])])[0]
        #expect(nd == f32([2], [1, 4]))
        let rows = try evaluateOp(GatherND(), [x, Tensor(shape: [2, 1], int64s: [1, 0])])[0]
        #expect(rows == f32([2, 2], [3, 4, 1, 2]))
        let batched = try evaluateOp(GatherND(batchDims: 1), [iota([2, 2, 2]), Tensor(shape: [2, 1], int64s: [1, 0])])[0]
        #expect(batched == f32([2, 2], [2, 3, 4, 5]))
        #expect(
            try inferDM(GatherND(batchDims: 1), [TensorType(.f32, ["b", 3, 4]), TensorType(.i64, ["b", 5, 1])])
                == [TensorType(.f32, ["b", 5, 4])])
        #expect(throws: EmberError.self) { try evaluateOp(GatherND(), [x, Tensor(shape: [1, 3], int64s: [0, 0, 0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(GatherND(), [x, Tensor(shape: [1, 2], int64s: [0, 2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(GatherND(batchDims: 2), [x, Tensor(shape: [2, 1], int64s: [0, 0])]) }
    }

    @Test func scatters() throws {
        let data = f32([4], [1, 2, 3, 4])
        let idx = Tensor(shape: [2, 1], int64s: [1, 3])
        let upd = f32([2], [10, 20])
        #expect(try evaluateOp(ScatterND(), [data, idx, upd])[0] == f32([4], [1, 10, 3, 20]))
        let dup = Tensor(shape: [2, 1], int64s: [1, 1])
        #expect(try evaluateOp(ScatterND(reduction: .add), [data, dup, upd])[0] == f32([4], [1, 32, 3, 4]))
        #expect(try evaluateOp(ScatterND(reduction: .mul), [data, dup, upd])[0] == f32([4], [1, 400, 3, 4]))
        #expect(try evaluateOp(ScatterND(reduction: .max), [data, idx, f32([2], [0, 30])])[0] == f32([4], [1, 2, 3, 30]))
        #expect(try evaluateOp(ScatterND(reduction: .min), [data, idx, f32([2], [0, 30])])[0] == f32([4], [1, 0, 3, 4]))
        let rows = try evaluateOp(ScatterND(), [iota([2, 2], .i32), Tensor(shape: [1, 1], int64s: [-1]), Tensor(.i32, shape: [1, 2], int64s: [7, 8])])[0]
        #expect(rows.ints() == [0, 1, 7, 8] && rows.dtype == .i32)
        #expect(throws: EmberError.self) { try evaluateOp(ScatterND(), [data, Tensor(shape: [1, 1], int64s: [4]), f32([1], [0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ScatterND(), [data, idx, f32([3], [0, 0, 0])]) }

        let m = f32([2, 2], [1, 2, 3, 4])
        let e = try evaluateOp(ScatterElements(axis: 1), [m, Tensor(shape: [2, 1], int64s: [1, -2]), f32([2, 1], [9, 8])])[0]
        #expect(e == f32([2, 2], [1, 9, 8, 4]))
        let sum = try evaluateOp(
            ScatterElements(axis: 0, reduction: .add), [m, Tensor(shape: [2, 2], int64s: [1, 1, 1, 1]), f32([2, 2], [1, 1, 1, 1])])[0]
        #expect(sum == f32([2, 2], [1, 2, 5, 6]))
        let mx = try evaluateOp(
            ScatterElements(axis: 0, reduction: .max), [iota([2], .u64), Tensor(shape: [1], int64s: [0]), Tensor(.u64, shape: [1], int64s: [-1])])[0]
        #expect(mx.storage == .u64([UInt64.max, 1]))
        #expect(try inferDM(ScatterElements(), [TensorType(.f32, ["b", 2]), TensorType(.i64, [1, 2]), TensorType(.f32, [1, 2])]) == [TensorType(.f32, ["b", 2])])
        #expect(throws: EmberError.self) { try evaluateOp(ScatterElements(axis: 1), [m, Tensor(shape: [2, 1], int64s: [2, 0]), f32([2, 1], [0, 0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ScatterElements(axis: 1), [m, Tensor(shape: [2, 1], int64s: [0, 0]), f32([1, 2], [0, 0])]) }
    }

    @Test func padModes() throws {
        let x = f32([1, 3], [1, 2, 3])
        let pads = i64([0, 2, 0, 2])
        #expect(try evaluateOp(Pad(), [x, pads])[0] == f32([1, 7], [0, 0, 1, 2, 3, 0, 0]))
        #expect(try evaluateOp(Pad(), [x, pads, Tensor(scalar: 9, .f32)])[0] == f32([1, 7], [9, 9, 1, 2, 3, 9, 9]))
        #expect(try evaluateOp(Pad(mode: .reflect), [x, pads])[0] == f32([1, 7], [3, 2, 1, 2, 3, 2, 1]))
        #expect(try evaluateOp(Pad(mode: .edge), [x, pads])[0] == f32([1, 7], [1, 1, 1, 2, 3, 3, 3]))
        #expect(try evaluateOp(Pad(mode: .wrap), [x, pads])[0] == f32([1, 7], [2, 3, 1, 2, 3, 1, 2]))
        #expect(try evaluateOp(Pad(), [x, i64([0, -1, 0, 1])])[0] == f32([1, 3], [2, 3, 0]))
        let withAxes = try evaluateOp(Pad(), [x, i64([1, 1]), Tensor(scalar: 5, .f32), i64([-1])])[0]
        #expect(withAxes == f32([1, 5], [5, 1, 2, 3, 5]))
        let b = try evaluateOp(Pad(), [Tensor(shape: [2], bools: [true, true]), i64([1, 0])])[0]
        #expect(b == Tensor(shape: [3], bools: [false, true, true]))
        let t = TensorType(.f32, ["batch", 3, 32, 32])
        #expect(
            try inferDM(Pad(), [t, i64Type(8)], [nil, i64([0, 0, 1, 1, 0, 0, 1, 1])]) == [TensorType(.f32, ["batch", 3, 34, 34])])
        #expect(try inferDM(Pad(), [t, i64Type(8)]) == [TensorType(.f32, [.unknown, .unknown, .unknown, .unknown])])
        #expect(try inferDM(Pad(), [t, i64Type(2), nil, i64Type(1)], [nil, nil, nil, i64([2])]) == [TensorType(.f32, ["batch", 3, .unknown, 32])])
        #expect(throws: EmberError.self) { try evaluateOp(Pad(), [x, i64([0, 1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Pad(), [x, i64([0, -4, 0, 0])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Pad(mode: .edge), [iota([0]), i64([1, 1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Pad(), [x, i64([0, 0, 0, 0]), Tensor(scalar: 1, .f64)]) }
    }

    @Test func depthSpaceRoundTrip() throws {
        let x = iota([1, 8, 2, 3])
        for mode in [DepthToSpace.Mode.dcr, .crd] {
            let y = try evaluateOp(DepthToSpace(blockSize: 2, mode: mode), [x])[0]
            #expect(y.shape == [1, 2, 4, 6])
            #expect(try evaluateOp(SpaceToDepth(blockSize: 2, mode: mode), [y])[0] == x)
        }
        let crd = try evaluateOp(DepthToSpace(blockSize: 2, mode: .crd), [iota([1, 4, 1, 1])])[0]
        #expect(crd == f32([1, 1, 2, 2], [0, 1, 2, 3]))
        let dcr = try evaluateOp(DepthToSpace(blockSize: 2), [iota([1, 8, 1, 1])])[0]
        #expect(dcr == f32([1, 2, 2, 2], [0, 2, 4, 6, 1, 3, 5, 7]))
        #expect(try inferDM(DepthToSpace(blockSize: 2), [TensorType(.f32, ["n", 8, "h", 3])]) == [TensorType(.f32, ["n", 2, .unknown, 6])])
        #expect(try inferDM(SpaceToDepth(blockSize: 2), [TensorType(.f32, ["n", 3, 4, "w"])]) == [TensorType(.f32, ["n", 12, 2, .unknown])])
        #expect(throws: EmberError.self) { try evaluateOp(DepthToSpace(blockSize: 3), [x]) }
        #expect(throws: EmberError.self) { try evaluateOp(SpaceToDepth(blockSize: 2), [iota([1, 1, 3, 2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(SpaceToDepth(blockSize: 2), [iota([2, 2])]) }
    }

    @Test func triluOneHotEye() throws {
        let x = iota([3, 3])
        #expect(try evaluateOp(Trilu(), [x])[0] == f32([3, 3], [0, 1, 2, 0, 4, 5, 0, 0, 8]))
        #expect(try evaluateOp(Trilu(upper: false), [x, Tensor(shape: [], int64s: [-1])])[0] == f32([3, 3], [0, 0, 0, 3, 0, 0, 6, 7, 0]))
        #expect(try evaluateOp(Trilu(), [x, Tensor(shape: [], int64s: [Int64.max])])[0] == f32([3, 3], [0, 0, 0, 0, 0, 0, 0, 0, 0]))
        #expect(throws: EmberError.self) { try evaluateOp(Trilu(), [iota([3])]) }

        let hot = try evaluateOp(OneHot(), [Tensor(shape: [3], int64s: [0, -1, 5]), Tensor(scalar: 3, .i64), f32([2], [0, 1])])[0]
        #expect(hot == f32([3, 3], [1, 0, 0, 0, 0, 1, 0, 0, 0]))
        let axis0 = try evaluateOp(OneHot(axis: 0), [Tensor(shape: [2], int64s: [1, 0]), Tensor(scalar: 2, .f32), Tensor(shape: [2], int64s: [5, 7])])[0]
        #expect(axis0 == Tensor(shape: [2, 2], int64s: [5, 7, 7, 5]))
        #expect(
            try inferDM(OneHot(), [TensorType(.i64, ["b"]), TensorType(.i64, []), TensorType(.f32, [2])], [nil, Tensor(scalar: 10, .i64)])
                == [TensorType(.f32, ["b", 10])])
        #expect(throws: EmberError.self) { try evaluateOp(OneHot(), [i64([0]), Tensor(scalar: 0, .i64), f32([2], [0, 1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(OneHot(), [i64([0]), Tensor(scalar: 2, .i64), f32([3], [0, 1, 2])]) }

        #expect(try evaluateOp(EyeLike(k: 1), [iota([2, 3])])[0] == f32([2, 3], [0, 1, 0, 0, 0, 1]))
        let eye = try evaluateOp(EyeLike(dtype: .i32, k: -1), [iota([3, 2])])[0]
        #expect(eye.dtype == .i32 && eye.ints() == [0, 0, 1, 0, 0, 1])
        #expect(try inferDM(EyeLike(dtype: .bool), [TensorType(.f32, ["n", 3])]) == [TensorType(.bool, ["n", 3])])
        #expect(throws: EmberError.self) { try evaluateOp(EyeLike(), [iota([2])]) }
    }

    @Test func dataDependentOps() throws {
        let nz = try evaluateOp(NonZero(), [f32([2, 2], [1, 0, 0, 3])])[0]
        #expect(nz == Tensor(shape: [2, 2], int64s: [0, 1, 0, 1]))
        #expect(try evaluateOp(NonZero(), [Tensor(scalar: 2, .f32)])[0] == Tensor(shape: [1, 1], int64s: [0]))
        #expect(try inferDM(NonZero(), [TensorType(.f32, ["b", 3])]) == [TensorType(.i64, [2, .unknown])])

        let cond = Tensor(shape: [3], bools: [false, true, true])
        #expect(try evaluateOp(Compress(axis: 0), [iota([3, 2]), cond])[0] == f32([2, 2], [2, 3, 4, 5]))
        #expect(try evaluateOp(Compress(), [iota([3, 2]), cond])[0] == f32([2], [1, 2]))
        #expect(try evaluateOp(Compress(axis: -1), [iota([2, 3]), Tensor(shape: [2], bools: [false, true])])[0] == f32([2, 1], [1, 4]))
        #expect(try inferDM(Compress(axis: 1), [TensorType(.f32, ["b", 3]), TensorType(.bool, [3])]) == [TensorType(.f32, ["b", .unknown])])
        #expect(throws: EmberError.self) { try evaluateOp(Compress(axis: 0), [iota([2]), cond]) }

        let seq = try evaluateOp(ReverseSequence(batchAxis: 0, timeAxis: 1), [iota([2, 3]), i64([3, 2])])[0]
        #expect(seq == f32([2, 3], [2, 1, 0, 4, 3, 5]))
        let timeMajor = try evaluateOp(ReverseSequence(), [iota([3, 2]), i64([1, 3])])[0]
        #expect(timeMajor == f32([3, 2], [0, 5, 2, 3, 4, 1]))
        #expect(throws: EmberError.self) { try evaluateOp(ReverseSequence(), [iota([3, 2]), i64([4, 1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ReverseSequence(), [iota([3, 2]), i64([1])]) }
        #expect(throws: EmberError.self) { try ReverseSequence(attributes: Attributes(op: "reverse_sequence", [("batch_axis", .int(1)), ("time_axis", .int(1))])) }
    }

    /// Sizes and indices from a damaged model give errors, never a trap or a huge allocation.
    @Test func hostileValuesThrow() throws {
        let x = iota([2, 3])
        let big = Int(Int64.max)
        #expect(throws: EmberError.self) { try evaluateOp(Reshape(), [x, i64([big, 2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Expand(), [x, i64([big, big, 1])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Tile(), [x, i64([big, 2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Pad(), [x, i64([0, big, 0, big])]) }
        #expect(throws: EmberError.self) { try evaluateOp(ConstantOfShape(), [i64([big, big])]) }
        #expect(throws: EmberError.self) { try evaluateOp(OneHot(), [i64([0]), Tensor(scalar: 1e18, .f64), f32([2], [0, 1])]) }
        #expect(throws: EmberError.self) {
            try evaluateOp(RangeOp(), [Tensor(scalar: 0, .f32), Tensor(scalar: .infinity, .f32), Tensor(scalar: 1, .f32)])
        }
        #expect(throws: EmberError.self) {
            try evaluateOp(RangeOp(), [Tensor(shape: [], int64s: [Int64.min]), Tensor(shape: [], int64s: [Int64.max]), Tensor(shape: [], int64s: [1])])
        }
        #expect(throws: EmberError.self) { try evaluateOp(Resize(), [x, nil, Tensor(shape: [2], floats: [1e30, 1e30])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Resize(), [x, nil, nil, i64([big, big])]) }
        #expect(throws: EmberError.self) { try evaluateOp(DepthToSpace(blockSize: 2), [iota([1, 4, 2])]) }
        let sliced = try evaluateOp(SliceOp(), [x, i64([big]), i64([Int(Int64.min)]), i64([1]), i64([Int(Int64.min)])])[0]
        #expect(sliced == f32([2, 1], [2, 5]))
        let stepped = try evaluateOp(SliceOp(), [x, i64([Int(Int64.min)]), i64([big]), i64([1]), i64([big])])[0]
        #expect(stepped == f32([2, 1], [0, 3]))
    }
}
