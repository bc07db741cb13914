import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@testable import EmberCPU

@Suite struct KernelDataMovementTests {
    static let dtypes: [DType] = [.f32, .i64, .f16, .bool, .u8]

    func ints(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], int64s: values.map(Int64.init)) }

    @Test(arguments: dtypes)
    func transposeEveryPermutationOfRankThreeAndFour(_ dtype: DType) throws {
        let x3 = Tensor.random(dtype, [3, 5, 7], in: -9...9)
        for perm in [[0, 2, 1], [1, 0, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            try checkKernel(try makeOp("transpose", [("perm", .ints(perm))]), [x3], tolerance: 0)
        }
        let x4 = Tensor.random(dtype, [2, 9, 3, 8], in: -9...9)
        try checkKernel(try makeOp("transpose", [("perm", .ints([0, 2, 1, 3]))]), [x4], tolerance: 0)
        try checkKernel(try makeOp("transpose", [("perm", .ints([0, 2, 3, 1]))]), [x4], tolerance: 0)
        try checkKernel(try makeOp("transpose"), [x4], tolerance: 0)
    }

    @Test func reshapesCopyOrShareTheBuffer() throws {
        let x = randomFloats([2, 3, 4])
        let node = try kernelNode(try makeOp("reshape"), [x, ints([6, 4])], constant: [1])
        #expect(EmberKernels().inPlaceInput(node, output: 0) == 0)
        for inPlace in [false, true] {
            try checkKernel(try makeOp("reshape"), [x, ints([6, -1])], tolerance: 0, inPlace: inPlace)
            try checkKernel(try makeOp("flatten", [("axis", .int(2))]), [x], tolerance: 0, inPlace: inPlace)
            try checkKernel(try makeOp("unsqueeze"), [x, ints([0, 4])], tolerance: 0, inPlace: inPlace)
            try checkKernel(try makeOp("squeeze"), [Tensor.random(.i64, [1, 3, 1]), ints([0])], tolerance: 0, inPlace: inPlace)
            try checkKernel(try makeOp("identity"), [x], tolerance: 0, inPlace: inPlace)
        }
    }

    @Test(arguments: dtypes)
    func concatAlongEachAxis(_ dtype: DType) throws {
        for axis in [0, 1, 2, -1] {
            var shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
            let a = axis < 0 ? axis + 3 : axis
            shapes[1][a] = 1
            shapes[2][a] = 5
            let parts = shapes.enumerated().map { Tensor.random(dtype, $1, in: -9...9, seed: UInt64($0)) }
            try checkKernel(try makeOp("concat", [("axis", .int(axis))]), parts, tolerance: 0)
        }
    }

    @Test func sliceWithStepsAndNegativeBounds() throws {
        let x = Tensor.random(.f32, [6, 7, 9], in: -9...9)
        let cases: [([Int], [Int], [Int]?, [Int]?)] = [
            ([1], [Int(Int64.max)], [1], nil),
            ([0, -3], [5, 100], [0, 2], [2, 1]),
            ([-1, 8], [Int(Int64.min), 0], [0, 2], [-1, -3]),
            ([2, 1, 1], [4, 6, 8], nil, [1, 2, 3]),
            ([5], [2], [1], [1]),  // empty
        ]
        for (starts, ends, axes, steps) in cases {
            var inputs: [Tensor?] = [x, ints(starts), ints(ends)]
            if axes != nil || steps != nil { inputs.append(axes.map(ints)) }
            if let steps { inputs.append(ints(steps)) }
            if axes == nil, steps != nil { inputs[3] = ints(Array(0..<starts.count)) }
            try checkKernel(try makeOp("slice"), inputs, constant: [1, 2, 3, 4], tolerance: 0)
            try checkKernel(try makeOp("slice"), inputs, tolerance: 0)
        }
        try checkKernel(try makeOp("slice"), [Tensor.random(.i64, [4, 6]), ints([1]), ints([5]), ints([1]), ints([2])], tolerance: 0)
    }

    @Test func gatherEmbeddingsAndOtherAxes() throws {
        let table = randomFloats([50, 24])
        let tokens = Tensor(shape: [2, 7], int64s: (0..<14).map { Int64(($0 * 13) % 50) - ($0 % 3 == 0 ? 50 : 0) })
        try checkKernel(try makeOp("gather"), [table, tokens], tolerance: 0)
        let tokens32 = Tensor(.i32, shape: [5], int64s: [3, -1, 0, 49, 7])
        try checkKernel(try makeOp("gather"), [table, tokens32], tolerance: 0)
        let x = Tensor.random(.i64, [3, 4, 5], in: -9...9)
        try checkKernel(try makeOp("gather", [("axis", .int(1))]), [x, ints([3, 0, -2])], tolerance: 0)
        try checkKernel(try makeOp("gather", [("axis", .int(-1))]), [x, Tensor(shape: [], int64s: [4])], tolerance: 0)
    }

    @Test func gatherOutOfRangeThrows() throws {
        let table = randomFloats([10, 4]), bad = ints([1, 10])
        let kernel = try EmberKernels().makeKernel(try kernelNode(try makeOp("gather"), [table, bad]))
        let output = Tensor(shape: [2, 4], floats: Array(repeating: 0, count: 8))
        #expect(throws: EmberError.self) { try runKernel(kernel, [table, bad], expected: [output]) }
    }

    @Test func transposeWithSymbolicDims() throws {
        let op = try makeOp("transpose", [("perm", .ints([0, 2, 1, 3]))])
        let node = try kernelNode(op, [nil], types: [TensorType(.f32, [.symbol("b"), .symbol("s"), 12, 64])])
        let kernel = try EmberKernels().makeKernel(node)
        for (b, s) in [(1, 128), (2, 7)] {
            let x = [randomFloats([b, s, 12, 64], seed: UInt64(s))]
            let expected = try op.evaluate(x, outputCount: 1)
            #expect(try runKernel(kernel, x, expected: expected) == expected)
        }
    }
}

@Suite struct KernelSelectionTests {
    func ints(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], int64s: values.map(Int64.init)) }

    @Test func splitIntoPieces() throws {
        let x = Tensor.random(.f32, [4, 10, 3], in: -9...9)
        try checkKernel(try makeOp("split", [("axis", .int(1)), ("num_outputs", .int(3))]), [x], outputs: 3, tolerance: 0)
        try checkKernel(try makeOp("split", [("axis", .int(-1))]), [x, ints([1, 2])], outputs: 2, tolerance: 0)
        try checkKernel(try makeOp("split"), [Tensor.random(.i64, [6, 2], in: -9...9)], outputs: 2, tolerance: 0)
    }

    @Test func expandBroadcasts() throws {
        try checkKernel(try makeOp("expand"), [Tensor.random(.f32, [3, 1], in: -9...9), ints([2, 3, 5])], tolerance: 0)
        try checkKernel(try makeOp("expand"), [Tensor.random(.i64, [1, 4], in: -9...9), ints([3, 1])], tolerance: 0)
    }

    @Test(arguments: [DType.f32, .i64, .bool, .f16])
    func whereSelectsWithBroadcasting(_ dtype: DType) throws {
        let condition = Tensor.random(.bool, [2, 1, 5], seed: 3)
        let x = Tensor.random(dtype, [3, 5], in: -9...9, seed: 4), y = Tensor.random(dtype, [2, 3, 1], in: -9...9, seed: 5)
        try checkKernel(try makeOp("where"), [condition, x, y], tolerance: 0)
        try checkKernel(try makeOp("where"), [Tensor.random(.bool, [4, 7], seed: 6), Tensor.random(dtype, [4, 7], in: -9...9), Tensor.random(dtype, [], in: -9...9)], tolerance: 0)
    }

    @Test func castBetweenTypes() throws {
        var values = Tensor.random(.f32, [40], in: -300...300).floats()
        values[0] = .nan
        values[1] = 3e10
        values[2] = -0.7
        let floats = Tensor(shape: [40], floats: values)
        for to in [DType.i64, .i32, .i8, .u8, .bool, .f64, .f32] {
            try checkKernel(try makeOp("cast", [("to", .dtype(to))]), [floats], tolerance: 0)
        }
        let longs = Tensor.random(.i64, [33], in: -1000...1000)
        for to in [DType.f32, .i32, .u8, .bool, .i64] {
            try checkKernel(try makeOp("cast", [("to", .dtype(to))]), [longs], tolerance: 0)
        }
        try checkKernel(try makeOp("cast", [("to", .dtype(.f32))]), [Tensor.random(.bool, [9])], tolerance: 0)
        let half = try kernelNode(try makeOp("cast", [("to", .dtype(.f16))]), [floats])
        #expect(EmberKernels().support(half) != .supported)
    }
}

@Suite struct KernelPadTests {
    func ints(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], int64s: values.map(Int64.init)) }

    @Test(arguments: ["constant", "reflect", "edge", "wrap"])
    func padEveryMode(_ mode: String) throws {
        let op = try makeOp("pad", [("mode", .string(mode))])
        let x = Tensor.random(.f32, [2, 3, 4, 5], in: -9...9)
        try checkKernel(op, [x, ints([0, 0, 1, 2, 0, 1, 2, 1])], tolerance: 0)
        try checkKernel(op, [x, ints([0, 0, -1, 2, 0, 0, 1, -2])], tolerance: 0)
        try checkKernel(op, [x, ints([2, 3]), Tensor(scalar: 1.5, .f32), ints([-1])], tolerance: 0)
        try checkKernel(op, [Tensor.random(.i64, [4, 3], in: -9...9), ints([1, 1, 2, 2])], tolerance: 0)
    }
}

@Suite struct KernelTileTests {
    @Test func tileRepeats() throws {
        let repeats = { (r: [Int]) in Tensor(shape: [r.count], int64s: r.map(Int64.init)) }
        try checkKernel(try makeOp("tile"), [Tensor.random(.f32, [2, 3, 5], in: -9...9), repeats([2, 1, 3])], tolerance: 0)
        try checkKernel(try makeOp("tile"), [Tensor.random(.i64, [4, 1], in: -9...9), repeats([1, 7])], tolerance: 0)
    }
}

@Suite struct KernelResizeTests {
    let scales = Tensor(shape: [4], floats: [1, 1, 2.5, 0.75])

    @Test(arguments: ["nearest", "linear", "cubic"])
    func resizeMatchesTheReference(_ mode: String) throws {
        let op = try makeOp("resize", [("mode", .string(mode))])
        try checkKernel(op, [randomFloats([2, 3, 4, 8]), nil, scales], constant: [2])
    }

    @Test func nearestResizesAnyDtypeAndExtrapolates() throws {
        try checkKernel(try makeOp("resize"), [Tensor.random(.i64, [1, 2, 3, 4], in: -9...9), nil, scales], constant: [2], tolerance: 0)
        let crop = try makeOp("resize", [("coordinate_transformation_mode", .string("tf_crop_and_resize")), ("extrapolation_value", .float(2))])
        let roi = Tensor(shape: [8], floats: [0, 0, -0.5, 0.2, 1, 1, 1.5, 0.9])
        try checkKernel(crop, [Tensor.random(.i32, [1, 2, 3, 4], in: -9...9), roi, scales], constant: [1, 2], tolerance: 0)
        try checkKernel(crop, [randomFloats([1, 2, 3, 4]), roi, scales], constant: [1, 2], tolerance: 0)
    }
}
