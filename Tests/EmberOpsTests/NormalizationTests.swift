import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@Suite struct NormalizationTests {
    func close(_ a: Tensor, _ b: [Double], _ tolerance: Double = 1e-5) -> Bool {
        a.doubles().count == b.count && zip(a.doubles(), b).allSatisfy { abs($0 - $1) <= tolerance }
    }

    func vector(_ v: [Float]) -> Tensor { Tensor(shape: [v.count], floats: v) }

    @Test func batchNormPerChannel() throws {
        let x = Tensor(shape: [1, 2, 2], floats: [1, 3, 10, 20])
        let y = try evaluateOp(
            BatchNorm(epsilon: 0), [x, vector([2, 1]), vector([0, 1]), vector([1, 10]), vector([4, 25])])[0]
        #expect(y == Tensor(shape: [1, 2, 2], floats: [0, 2, 1, 3]))
        let t = TensorType(.f32, ["n", 2, "h", "w"])
        let p = TensorType(.f32, known: [2])
        #expect(try BatchNorm().inferTypes(OpInputs("batch_norm", types: [t, p, p, p, p]), outputCount: 1) == [t])
        let wrong = TensorType(.f32, known: [3])
        #expect(throws: EmberError.self) {
            try BatchNorm().inferTypes(OpInputs("batch_norm", types: [t, wrong, p, p, p]), outputCount: 1)
        }
        #expect(throws: EmberError.self) {
            try evaluateOp(BatchNorm(), [x, vector([1]), vector([0, 1]), vector([1, 10]), vector([4, 25])])
        }
        #expect(throws: EmberError.self) {
            try BatchNorm(attributes: Attributes(op: "batch_norm", [("training_mode", .int(1))]))
        }
    }

    @Test func layerNormWithStatistics() throws {
        let x = Tensor(shape: [2, 2], floats: [1, 3, 0, 4])
        let out = try evaluateOp(LayerNorm(epsilon: 0), [x, vector([1, 2]), vector([0, 1])], outputs: 3)
        #expect(close(out[0], [-1, 3, -1, 3]))
        #expect(out[1] == Tensor(shape: [2, 1], floats: [2, 2]))
        #expect(close(out[2], [1, 0.5]))
        let noBias = try evaluateOp(LayerNorm(axis: 0, epsilon: 0), [x, Tensor(shape: [2, 2], floats: [1, 1, 1, 1]), nil])
        #expect(close(noBias[0], [-0.63245553, 0.63245553, -1.26491106, 1.26491106]))
    }

    @Test func layerNormTypes() throws {
        let t = TensorType(.f16, ["b", "s", 768])
        let types = try LayerNorm().inferTypes(
            OpInputs("layer_norm", types: [t, TensorType(.f16, known: [768])]), outputCount: 3)
        #expect(types == [t, TensorType(.f32, ["b", "s", 1]), TensorType(.f32, ["b", "s", 1])])
        #expect(throws: EmberError.self) {
            try LayerNorm(axis: 3).inferTypes(OpInputs("layer_norm", types: [t, t]), outputCount: 1)
        }
        #expect(throws: EmberError.self) {
            try evaluateOp(LayerNorm(), [Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), vector([1, 2])])
        }
        #expect(throws: EmberError.self) {
            try LayerNorm(attributes: Attributes(op: "layer_norm", [("stash_type", .int(7))]))
        }
        let op = LayerNorm(axis: 1, epsilon: 1e-3, stashType: .f64)
        #expect(try LayerNorm(attributes: op.attributes).isEquivalent(to: op))
    }

    @Test func groupAndInstanceNorm() throws {
        let x = Tensor(shape: [1, 4, 1], floats: [1, 3, 5, 9])
        let ones = vector([1, 1, 1, 1])
        let zeros = vector([0, 0, 0, 0])
        let grouped = try evaluateOp(GroupNorm(numGroups: 2, epsilon: 0), [x, ones, zeros])[0]
        #expect(close(grouped, [-1, 1, -1, 1]))
        let single = try evaluateOp(GroupNorm(numGroups: 1, epsilon: 0), [x, ones, zeros])[0]
        #expect(close(single, [-1.18321596, -0.50709255, 0.16903085, 1.52127766]))
        #expect(throws: EmberError.self) { try evaluateOp(GroupNorm(numGroups: 3), [x, ones, zeros]) }
        #expect(throws: EmberError.self) { try evaluateOp(GroupNorm(numGroups: 2), [x, vector([1, 1]), zeros]) }
        #expect(throws: EmberError.self) { try GroupNorm(attributes: Attributes(op: "group_norm")) }

        let spatial = Tensor(shape: [1, 2, 2], floats: [1, 3, 0, 10])
        let inst = try evaluateOp(InstanceNorm(epsilon: 0), [spatial, vector([1, 2]), vector([0, 1])])[0]
        #expect(close(inst, [-1, 1, -1, 3]))
        #expect(throws: EmberError.self) {
            try evaluateOp(InstanceNorm(), [Tensor(shape: [1, 2], floats: [1, 2]), vector([1, 1]), vector([0, 0])])
        }
    }

    @Test func rmsNorm() throws {
        let x = Tensor(shape: [1, 2], floats: [3, 4])
        let y = try evaluateOp(RMSNorm(epsilon: 0), [x, vector([1, 2])])[0]
        let rms = (12.5).squareRoot()
        #expect(close(y, [3 / rms, 8 / rms]))
        #expect(throws: EmberError.self) { try evaluateOp(RMSNorm(), [x, vector([1, 2, 3])]) }
    }

    @Test func lpAndMeanVarianceNorm() throws {
        let x = Tensor(shape: [2, 2], floats: [3, 4, 0, 0])
        #expect(close(try evaluateOp(LpNorm(), [x])[0], [0.6, 0.8, 0, 0]))
        #expect(close(try evaluateOp(LpNorm(axis: 0, p: 1), [x])[0], [1, 1, 0, 0]))
        #expect(throws: EmberError.self) { try LpNorm(attributes: Attributes(op: "lp_norm", [("p", .int(3))])) }

        let m = Tensor(shape: [1, 1, 1, 4], floats: [1, 2, 3, 4])
        let y = try evaluateOp(MeanVarianceNorm(axes: [3]), [m])[0]
        let s = (1.25).squareRoot()
        #expect(close(y, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]))
        #expect(throws: EmberError.self) { try evaluateOp(MeanVarianceNorm(axes: [0, 4]), [m]) }
    }
}
