import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct ConvolutionTests {
    func make<T: Operator>(_ type: T.Type, _ entries: [(String, Attribute)]) throws -> T {
        try T(attributes: Attributes(op: T.name, entries))
    }

    @Test func convInfersShapesWithSymbolicBatch() throws {
        let op = try make(Conv.self, [("strides", .ints([2, 2])), ("pads", .ints([3, 3, 3, 3]))])
        let x = TensorType(.f32, ["batch", 3, 224, 224]), w = TensorType(.f32, [64, 3, 7, 7])
        #expect(try op.inferTypes(OpInputs("conv", types: [x, w]), outputCount: 1) == [TensorType(.f32, ["batch", 64, 112, 112])])
        let same = try make(Conv.self, [("auto_pad", .string("SAME_UPPER")), ("strides", .ints([2, 2]))])
        let y = TensorType(.f32, [1, 3, "h", 9])
        #expect(try same.inferTypes(OpInputs("conv", types: [y, TensorType(.f32, [4, 3, 3, 3])]), outputCount: 1)
            == [TensorType(.f32, [1, 4, .unknown, 5])])
        #expect(try op.attributes == make(Conv.self, op.attributes.entries.map { ($0.name, $0.value) }).attributes)
    }

    @Test func convEvaluatesSmallCase() throws {
        let op = try make(Conv.self, [("pads", .ints([1, 1, 1, 1]))])
        let x = Tensor(shape: [1, 1, 3, 3], floats: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let w = Tensor(shape: [1, 1, 3, 3], floats: Array(repeating: 1, count: 9))
        let b = Tensor(shape: [1], floats: [100])
        let y = try evaluateOp(op, [x, w, b])[0]
        #expect(y == Tensor(shape: [1, 1, 3, 3], floats: [112, 121, 116, 127, 145, 133, 124, 139, 128]))
    }

    @Test func convRejectsBadInputs() throws {
        let x = Tensor.random(.f32, [1, 4, 5, 5])
        #expect(throws: EmberError.self) { try evaluateOp(try make(Conv.self, [("group", .int(3))]), [x, Tensor.random(.f32, [3, 1, 3, 3])]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(Conv.self, []), [x, Tensor.random(.f32, [2, 4, 7, 7])]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(Conv.self, [("strides", .ints([1]))]), [x, Tensor.random(.f32, [2, 4, 3, 3])]) }
        #expect(throws: EmberError.self) { try make(Conv.self, [("auto_pad", .string("SAME"))]) }
        #expect(throws: EmberError.self) { try make(Conv.self, [("strides", .ints([0, 1]))]) }
        #expect(throws: EmberError.self) { try make(Conv.self, [("pads", .ints([1, 1, 1]))]) }
        #expect(throws: EmberError.self) { try make(Conv.self, [("group", .int(0))]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(Conv.self, []), [Tensor.random(.f32, [4, 5]), Tensor.random(.f32, [2, 4])]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(Conv.self, []), [x, Tensor.random(.f32, [2, 4, 3, 3]), Tensor.random(.f32, [3])]) }
    }

    @Test func convTransposeEvaluatesAndInfers() throws {
        let op = try make(ConvTranspose.self, [("strides", .ints([2]))])
        let x = Tensor(shape: [1, 1, 2], floats: [1, 2])
        let w = Tensor(shape: [1, 1, 3], floats: [1, 1, 1])
        #expect(try evaluateOp(op, [x, w])[0] == Tensor(shape: [1, 1, 5], floats: [1, 1, 3, 2, 2]))
        let t = try op.inferTypes(OpInputs("conv_transpose", types: [TensorType(.f32, ["n", 1, "l"]), TensorType(.f32, [1, 4, 3])]), outputCount: 1)
        #expect(t == [TensorType(.f32, ["n", 4, .unknown])])
        let shaped = try make(ConvTranspose.self, [("strides", .ints([2])), ("output_shape", .ints([6]))])
        #expect(try evaluateOp(shaped, [x, w])[0] == Tensor(shape: [1, 1, 6], floats: [1, 1, 3, 2, 2, 0]))
        #expect(throws: EmberError.self) { try evaluateOp(op, [x, Tensor.random(.f32, [2, 1, 3])]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(ConvTranspose.self, [("pads", .ints([3, 3]))]), [x, w]) }
    }

    /// Backends read the window as typed values and resolve it with the op's own geometry; the
    /// sizes and pads are those of ONNX's operator documentation examples.
    @Test func windowsAreTypedAndResolveAsONNXDocumentsThem() throws {
        let pool = try make(MaxPool.self, [("kernel_shape", .ints([2, 2])), ("auto_pad", .string("SAME_LOWER"))])
        #expect(pool.window.autoPad == .sameLower && pool.window.kernelShape == [2, 2] && pool.window.strides.isEmpty)
        // maxpool_2d_same_lower: 5x5 stays 5x5, the one pad of each axis at its beginning.
        let lower = try pool.window.geometry(input: [5, 5], kernel: [2, 2], op: MaxPool.name)
        #expect(lower.output == [5, 5] && lower.padBegin == [1, 1] && lower.padEnd == [0, 0] && lower.strides == [1, 1])
        // maxpool_2d_ceil: a 3x3 window with stride 2 over 4x4 gives 2x2.
        let ceil = try make(MaxPool.self, [("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2])), ("ceil_mode", .int(1))])
        #expect(ceil.window.ceilMode)
        #expect(try ceil.window.geometry(input: [4, 4], kernel: [3, 3], op: MaxPool.name).output == [2, 2])
        // Without ceil_mode the same window fits once.
        let floor = try make(AveragePool.self, [("kernel_shape", .ints([3, 3])), ("strides", .ints([2, 2]))])
        #expect(!floor.window.ceilMode)
        #expect(try floor.window.geometry(input: [4, 4], kernel: [3, 3], op: AveragePool.name).output == [1, 1])
        let conv = try make(Conv.self, [("strides", .ints([2, 2])), ("auto_pad", .string("SAME_UPPER")), ("group", .int(2))])
        #expect(conv.group == 2 && !conv.window.ceilMode)
        // conv_with_strides_and_asymmetric_padding's shape under SAME_UPPER: 7x5 by 3x3, stride 2 -> 4x3.
        let same = try conv.window.geometry(input: [7, 5], kernel: [3, 3], op: Conv.name)
        #expect(same.output == [4, 3] && same.padBegin == [1, 1] && same.padEnd == [1, 1])
        // convtranspose_pads: 3x3 by 3x3, strides [3, 2], pads [1, 2, 1, 2] -> 7x3.
        let pads = try make(ConvTranspose.self, [("strides", .ints([3, 2])), ("pads", .ints([1, 2, 1, 2]))])
        #expect(pads.outputPadding.isEmpty && pads.outputShape.isEmpty)
        let padded = try pads.geometry(input: [3, 3], kernel: [3, 3])
        #expect(padded.output == [7, 3] && padded.padBegin == [1, 2] && padded.padEnd == [1, 2])
        // convtranspose with output_padding [1, 1] and strides [3, 2] -> 10x8.
        let extra = try make(ConvTranspose.self, [("strides", .ints([3, 2])), ("output_padding", .ints([1, 1]))])
        #expect(extra.outputPadding == [1, 1])
        #expect(try extra.geometry(input: [3, 3], kernel: [3, 3]).output == [10, 8])
        // A kernel that does not match the input's spatial axes is an error, not a crash.
        #expect(throws: EmberError.self) { try conv.window.geometry(input: [7, 5], kernel: [3], op: Conv.name) }
        #expect(throws: EmberError.self) { try pads.geometry(input: [3, 3], kernel: [3]) }
    }

    @Test func maxPoolGivesValuesAndIndices() throws {
        let op = try make(MaxPool.self, [("kernel_shape", .ints([2, 2])), ("strides", .ints([2, 2])), ("ceil_mode", .int(1))])
        let x = Tensor(shape: [1, 1, 3, 3], floats: [1, 9, 2, 3, 4, 8, 5, 7, 6])
        let out = try evaluateOp(op, [x], outputs: 2)
        #expect(out[0] == Tensor(shape: [1, 1, 2, 2], floats: [9, 8, 7, 6]))
        #expect(out[1] == Tensor(shape: [1, 1, 2, 2], int64s: [1, 5, 7, 8]))
        let columns = try make(MaxPool.self, [("kernel_shape", .ints([2, 2])), ("storage_order", .int(1))])
        #expect(try evaluateOp(columns, [x], outputs: 2)[1] == Tensor(shape: [1, 1, 2, 2], int64s: [3, 3, 5, 7]))
        let t = try op.inferTypes(OpInputs("max_pool", types: [TensorType(.f32, ["n", 1, 3, "w"])]), outputCount: 2)
        #expect(t == [TensorType(.f32, ["n", 1, 2, .unknown]), TensorType(.i64, ["n", 1, 2, .unknown])])
        #expect(throws: EmberError.self) { try make(MaxPool.self, []) }
        #expect(throws: EmberError.self) { try make(MaxPool.self, [("kernel_shape", .ints([2])), ("storage_order", .int(2))]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(MaxPool.self, [("kernel_shape", .ints([2]))]), [x]) }
        #expect(throws: EmberError.self) { try evaluateOp(try make(MaxPool.self, [("kernel_shape", .ints([4, 4]))]), [x]) }
    }

    @Test func averagePoolCountsPaddingWhenAsked() throws {
        let x = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
        let entries: [(String, Attribute)] = [("kernel_shape", .ints([2, 2])), ("pads", .ints([1, 1, 0, 0]))]
        let exclude = try make(AveragePool.self, entries)
        #expect(try evaluateOp(exclude, [x])[0] == Tensor(shape: [1, 1, 2, 2], floats: [1, 1.5, 2, 2.5]))
        let include = try make(AveragePool.self, entries + [("count_include_pad", .int(1))])
        #expect(try evaluateOp(include, [x])[0] == Tensor(shape: [1, 1, 2, 2], floats: [0.25, 0.75, 1, 2.5]))
    }

    @Test func globalPoolsReduceSpatialAxes() throws {
        let x = Tensor(shape: [1, 2, 2, 2], floats: [1, 2, 3, 4, -1, -2, -3, -4])
        #expect(try evaluateOp(GlobalAveragePool(), [x])[0] == Tensor(shape: [1, 2, 1, 1], floats: [2.5, -2.5]))
        #expect(try evaluateOp(GlobalMaxPool(), [x])[0] == Tensor(shape: [1, 2, 1, 1], floats: [4, -1]))
        let lp = try make(GlobalLpPool.self, [("p", .int(1))])
        #expect(try evaluateOp(lp, [x])[0] == Tensor(shape: [1, 2, 1, 1], floats: [10, 10]))
        #expect(try GlobalAveragePool().inferTypes(OpInputs("global_average_pool", types: [TensorType(.f32, ["n", 8, "h", "w"])]), outputCount: 1)
            == [TensorType(.f32, ["n", 8, 1, 1])])
        #expect(throws: EmberError.self) { try evaluateOp(GlobalAveragePool(), [Tensor(shape: [2, 2], floats: [1, 2, 3, 4])]) }
    }
}
