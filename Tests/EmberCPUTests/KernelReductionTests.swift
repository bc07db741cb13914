import EmberIR
import EmberOps
import EmberTestSupport
import Testing

@testable import EmberCPU

@Suite struct KernelReductionTests {
    static let reductions = [
        "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_sum_square", "reduce_l2", "reduce_l1",
        "reduce_log_sum_exp", "reduce_prod",
    ]

    func axes(_ values: [Int]) -> Tensor { Tensor(shape: [values.count], int64s: values.map(Int64.init)) }

    @Test(arguments: reductions)
    func reduceOverAnyAxes(_ name: String) throws {
        let x = randomFloats([3, 5, 37], in: name == "reduce_prod" ? 0.8...1.2 : -3...3)
        for axisList in [[2], [-1], [0], [1], [0, 2], [1, 2], [0, 1, 2]] {
            for keepdims in [0, 1] {
                let op = try makeOp(name, [("keepdims", .int(keepdims))])
                try checkKernel(op, [x, axes(axisList)])
                try checkKernel(op, [x, axes(axisList)], constant: [1])
            }
        }
        try checkKernel(try makeOp(name), [x])
        try checkKernel(try makeOp(name, [("noop_with_empty_axes", .int(1))]), [x, axes([])])
    }

    @Test func reduceLogSum() throws {
        try checkKernel(try makeOp("reduce_log_sum"), [randomFloats([4, 33], in: 0.1...2), axes([1])])
    }

    @Test func argMaxAndArgMin() throws {
        var values = Tensor.random(.f32, [4, 6, 5], in: -3...3).floats()
        // Ties and a NaN.
        values[0] = 3; values[5] = 3; values[7] = .nan
        let x = Tensor(shape: [4, 6, 5], floats: values)
        for name in ["arg_max", "arg_min"] {
            for axis in [0, 1, 2, -1] {
                for last in [0, 1] {
                    let op = try makeOp(name, [("axis", .int(axis)), ("keepdims", .int(axis == 1 ? 0 : 1)), ("select_last_index", .int(last))])
                    try checkKernel(op, [x], tolerance: 0)
                }
            }
        }
    }

    @Test func reductionRefusesIntegers() throws {
        let node = try kernelNode(try makeOp("reduce_sum"), [Tensor.random(.i64, [3, 4]), axes([1])])
        guard case .unsupported(let reason) = EmberKernels().support(node) else {
            Issue.record("an i64 reduction should be refused")
            return
        }
        #expect(reason.contains("i64"))
    }
}
