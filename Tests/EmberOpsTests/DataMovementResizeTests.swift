import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct DataMovementResizeTests {
    func resize(_ attrs: [(String, Attribute)]) throws -> any Operator {
        try OperatorRegistry.standard.make("resize", Attributes(op: "resize", attrs))
    }

    @Test func resizeShapes() throws {
        let x = TensorType(.f32, ["batch", 3, 16, 16])
        let scales = Tensor(shape: [4], floats: [1, 1, 2, 0.5])
        #expect(
            try inferDM(Resize(), [x, nil, scales.type], [nil, nil, scales]) == [TensorType(.f32, ["batch", 3, 32, 8])])
        let sizes = i64([2, 3, 8, 24])
        #expect(try inferDM(Resize(), [x, nil, nil, sizes.type], [nil, nil, nil, sizes]) == [TensorType(.f32, [2, 3, 8, 24])])
        #expect(try inferDM(Resize(), [x, nil, scales.type]) == [TensorType(.f32, [.unknown, .unknown, .unknown, .unknown])])
        let axesOp = try resize([("axes", .ints([2, 3])), ("keep_aspect_ratio_policy", .string("not_larger"))])
        let s2 = i64([8, 32])
        #expect(try inferDM(axesOp, [x, nil, nil, s2.type], [nil, nil, nil, s2]) == [TensorType(.f32, ["batch", 3, 8, 8])])
        #expect(try inferDM(axesOp, [x, nil, nil, s2.type]) == [TensorType(.f32, ["batch", 3, .unknown, .unknown])])
        let empty = Tensor(shape: [0], floats: [])
        #expect(
            try inferDM(Resize(), [x, empty.type, empty.type, sizes.type], [empty, empty, nil, sizes])
                == [TensorType(.f32, [2, 3, 8, 24])])
        #expect(throws: EmberError.self) { try inferDM(Resize(), [x]) }
        #expect(throws: EmberError.self) { try inferDM(Resize(), [x, nil, scales.type, sizes.type]) }
    }

    @Test func nearestUpsampleAnyDType() throws {
        let x = Tensor(.i32, shape: [1, 1, 2, 2], int64s: [1, 2, 3, 4])
        let y = try evaluateOp(Resize(), [x, nil, Tensor(shape: [4], floats: [1, 1, 2, 2])])[0]
        #expect(y.dtype == .i32)
        #expect(y.ints() == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
        let asym = try resize([("coordinate_transformation_mode", .string("asymmetric")), ("nearest_mode", .string("floor"))])
        let z = try evaluateOp(asym, [f32([1, 4], [1, 2, 3, 4]), nil, Tensor(shape: [2], floats: [1, 0.6])])[0]
        // Output width floor(4 * 0.6) = 2; positions 0 and 1 map to 0 and 1.666.., floored.
        #expect(z == f32([1, 2], [1, 2]))
    }

    @Test func linearAlignCornersAndHalfPixel() throws {
        let x = f32([1, 1, 2, 2], [1, 2, 3, 4])
        let align = try resize([("mode", .string("linear")), ("coordinate_transformation_mode", .string("align_corners"))])
        let y = try evaluateOp(align, [x, nil, nil, i64([1, 1, 3, 3])])[0]
        #expect(y == f32([1, 1, 3, 3], [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]))
        let half = try resize([("mode", .string("linear"))])
        let z = try evaluateOp(half, [f32([4], [1, 2, 3, 4]), nil, Tensor(shape: [1], floats: [0.5])])[0]
        #expect(z == f32([2], [1.5, 3.5]))
    }

    @Test func cubicAndCropAndExtrapolation() throws {
        // Cubic weights at an integer source position pick that pixel exactly.
        let cubic = try resize([("mode", .string("cubic")), ("coordinate_transformation_mode", .string("asymmetric"))])
        let y = try evaluateOp(cubic, [f32([4], [1, 5, 2, 8]), nil, Tensor(shape: [1], floats: [2])])[0]
        #expect(y.floats()[0] == 1 && y.floats()[2] == 5 && y.floats()[4] == 2)
        let crop = try resize([
            ("mode", .string("linear")), ("coordinate_transformation_mode", .string("tf_crop_and_resize")),
            ("extrapolation_value", .float(-1)),
        ])
        let roi = Tensor(shape: [2], floats: [0.5, 1.5])
        let c = try evaluateOp(crop, [f32([3], [0, 10, 20]), roi, nil, i64([3])])[0]
        #expect(c == f32([3], [10, 20, -1]))
    }

    @Test func resizeRejectsBadInputs() throws {
        let x = iota([1, 2])
        #expect(throws: EmberError.self) { try evaluateOp(Resize(), [x, nil, Tensor(shape: [1], floats: [2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Resize(), [x, nil, Tensor(shape: [2], floats: [1, -2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Resize(), [x, nil, nil, i64([1, -2])]) }
        #expect(throws: EmberError.self) { try evaluateOp(Resize(), [x, nil, nil, nil]) }
        #expect(throws: EmberError.self) { try resize([("coordinate_transformation_mode", .string("center"))]) }
        #expect(throws: EmberError.self) { try resize([("axes", .ints([0, 0]))]).inferTypes(OpInputs("resize", types: [x.type]), outputCount: 1) }
    }
}
