import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@testable import EmberCPU

@Suite struct KernelNormalizationTests {
    @Test(arguments: [-1, 0, 1, 2])
    func softmaxAnyAxis(_ axis: Int) throws {
        let x = randomFloats([3, 5, 37], in: -8...8)
        try checkKernel(try makeOp("softmax", [("axis", .int(axis))]), [x])
        try checkKernel(try makeOp("log_softmax", [("axis", .int(axis))]), [x])
    }

    @Test func normalizationsInPlace() throws {
        let x = randomFloats([3, 6, 37], in: -8...8)
        for op in [try makeOp("softmax"), try makeOp("softmax", [("axis", .int(1))])] {
            #expect(EmberKernels().inPlaceInput(try kernelNode(op, [x]), output: 0) == 0)
            try checkKernel(op, [x], inPlace: true)
        }
        let logSoftmax = try makeOp("log_softmax")
        #expect(EmberKernels().inPlaceInput(try kernelNode(logSoftmax, [x]), output: 0) == nil)
        try checkKernel(try makeOp("layer_norm"), [x, randomFloats([37])], inPlace: true)
        try checkKernel(try makeOp("rms_norm"), [x, randomFloats([37])], inPlace: true)
        try checkKernel(try makeOp("group_norm", [("num_groups", .int(3))]), [x, randomFloats([6]), randomFloats([6])], inPlace: true)
        try checkKernel(
            try makeOp("batch_norm"), [x, randomFloats([6]), randomFloats([6]), randomFloats([6]), randomFloats([6], in: 0.5...2)],
            inPlace: true)
    }

    @Test func softmaxWithMaskedRows() throws {
        // A row of -infinity gives NaN, a row with some gives zeros there.
        var values = randomFloats([4, 19]).floats()
        for j in 0..<19 { values[j] = -.infinity }
        for j in 0..<7 { values[19 + j] = -.infinity }
        try checkKernel(try makeOp("softmax"), [Tensor(shape: [4, 19], floats: values)])
    }

    @Test func softmaxSymbolicRows() throws {
        let op = try makeOp("softmax")
        let node = try kernelNode(op, [nil], types: [TensorType(.f32, [.symbol("b"), 128])])
        let kernel = try EmberKernels().makeKernel(node)
        for rows in [1, 45] {
            let x = [randomFloats([rows, 128], seed: UInt64(rows))]
            let expected = try op.evaluate(x, outputCount: 1)
            #expect(try #require(try runKernel(kernel, x, expected: expected)[0].relativeError(to: expected[0])) <= 1e-4)
        }
    }

    @Test(arguments: [[2, 7, 768], [3, 33], [2, 3, 4, 5]])
    func layerNormMatchesReference(_ shape: [Int]) throws {
        let x = randomFloats(shape, seed: 3)
        for axis in [-1, shape.count > 2 ? -2 : -1] {
            let normalized = Array(shape[(shape.count + axis)...])
            let scale = randomFloats(normalized, seed: 4), bias = randomFloats(normalized, seed: 5)
            let op = try makeOp("layer_norm", [("axis", .int(axis)), ("epsilon", .float(1e-5))])
            try checkKernel(op, [x, scale, bias])
            try checkKernel(op, [x, scale])
            // Parameters that broadcast over the normalized dims.
            try checkKernel(op, [x, randomFloats([shape[shape.count - 1]], seed: 6), randomFloats([1], seed: 7)])
            try checkKernel(try makeOp("rms_norm", [("axis", .int(axis))]), [x, scale])
        }
    }

    @Test func normalizationRefusesStatisticsOutputs() throws {
        let x = randomFloats([2, 8]), scale = randomFloats([8])
        let node = try kernelNode(try makeOp("layer_norm"), [x, scale], outputs: 3)
        guard case .unsupported(let reason) = EmberKernels().support(node) else {
            Issue.record("layer_norm with statistics outputs should be refused")
            return
        }
        #expect(reason.contains("mean"))
        let f64 = try kernelNode(try makeOp("softmax"), [Tensor.random(.f64, [2, 3])])
        #expect(EmberKernels().support(f64) != .supported)
    }
}

@Suite struct KernelChannelNormTests {
    @Test(arguments: [[2, 6, 5, 7], [3, 4, 33], [2, 6]])
    func channelNormsMatchReference(_ shape: [Int]) throws {
        let x = randomFloats(shape, seed: 1)
        let c = shape[1]
        let scale = randomFloats([c], seed: 2), bias = randomFloats([c], seed: 3)
        let mean = randomFloats([c], seed: 4), variance = randomFloats([c], in: 0.1...2, seed: 5)
        try checkKernel(try makeOp("batch_norm", [("epsilon", .float(1e-3))]), [x, scale, bias, mean, variance])
        if shape.count > 2 { try checkKernel(try makeOp("instance_norm"), [x, scale, bias]) }
        for groups in [1, 2, c] {
            try checkKernel(try makeOp("group_norm", [("num_groups", .int(groups))]), [x, scale, bias])
        }
    }
}
