import Dispatch
import EmberIR
import EmberOps
import EmberTestSupport
import Foundation
import Testing

@testable import EmberCPU

@Suite struct KernelElementwiseTests {
    static let unaryOps: [(String, [(String, Attribute)])] = [
        ("neg", []), ("abs", []), ("relu", []), ("sigmoid", []), ("tanh", []), ("exp", []), ("erf", []),
        ("softplus", []), ("floor", []), ("ceil", []), ("round", []), ("sign", []), ("hard_swish", []),
        ("silu", []), ("gelu", []), ("gelu", [("approximate", .string("tanh"))]), ("leaky_relu", [("alpha", .float(0.2))]),
        ("elu", [("alpha", .float(0.7))]), ("swish", [("alpha", .float(1.5))]),
        ("hard_sigmoid", [("alpha", .float(0.3)), ("beta", .float(0.4))]), ("reciprocal", []),
        // Ops whose CPU loops come from their formulas alone, with no CPU code naming them.
        ("softsign", []), ("mish", []), ("selu", []), ("celu", [("alpha", .float(1.5))]),
        ("thresholded_relu", [("alpha", .float(0.4))]), ("sin", []), ("cos", []), ("atan", []), ("sinh", []),
        ("asinh", []),
    ]

    @Test(arguments: unaryOps.indices)
    func unaryOpMatchesReference(_ index: Int) throws {
        let (name, attributes) = Self.unaryOps[index]
        let op = try makeOp(name, attributes)
        // 3 * 37 elements: seven full vectors and a tail of 15.
        try checkKernel(op, [randomFloats([3, 37], in: -6...6)])
    }

    @Test func logAndSqrtOfPositiveInputs() throws {
        for name in ["log", "sqrt"] {
            try checkKernel(try makeOp(name), [randomFloats([5, 29], in: 1e-3...50)])
        }
    }

    @Test func functionsOfLimitedDomains() throws {
        for name in ["asin", "acos", "atanh"] {
            try checkKernel(try makeOp(name), [randomFloats([5, 29], in: -0.95...0.95)])
        }
        try checkKernel(try makeOp("acosh"), [randomFloats([5, 29], in: 1.01...20)])
        try checkKernel(try makeOp("tan"), [randomFloats([5, 29], in: -1.4...1.4)])
    }

    @Test(arguments: [
        ([2, 3, 5, 7], [2, 3, 5, 7]),  // same shape
        ([2, 3, 5, 7], []),  // scalar
        ([2, 3, 5, 7], [3, 1, 1]),  // per channel
        ([2, 3, 5, 7], [7]),  // per row
        ([2, 3, 5, 7], [2, 3, 5, 1]),  // one value per row
        ([4, 1], [1, 5]),  // both broadcast
        ([1, 3, 1, 7], [2, 1, 5, 1]),  // alternating
    ])
    func binaryOpsBroadcast(_ a: [Int], _ b: [Int]) throws {
        for name in ["add", "sub", "mul", "div", "max", "min", "prelu", "pow"] {
            let x = randomFloats(a, in: name == "pow" ? 0.1...3 : -3...3, seed: 1)
            let y = randomFloats(b, in: -3...3, seed: 2)
            if name == "prelu", b.count > a.count { continue }
            try checkKernel(try makeOp(name), [x, y])
            if name != "prelu" { try checkKernel(try makeOp(name), [y, x]) }
        }
    }

    @Test func constantExponentsAndBounds() throws {
        let x = randomFloats([3, 41], in: 0.01...4)
        for e in [1.0, 2, 3, 0.5, -1, -0.5, 1.7] {
            try checkKernel(try makeOp("pow"), [x, Tensor(scalar: e, .f32)], constant: [1])
        }
        try checkKernel(try makeOp("pow"), [x, Tensor(scalar: 2, .i64)], constant: [1])
        let lo = Tensor(scalar: 0.5, .f32), hi = Tensor(scalar: 2.5, .f32)
        try checkKernel(try makeOp("clip"), [x, lo, hi], constant: [1, 2])
        try checkKernel(try makeOp("clip"), [x, lo, hi])
        try checkKernel(try makeOp("clip"), [x, nil, hi], constant: [2])
        try checkKernel(try makeOp("clip"), [x, lo])
    }

    @Test func variadicOps() throws {
        let a = randomFloats([4, 19], seed: 1), b = randomFloats([19], seed: 2), c = randomFloats([4, 1], seed: 3)
        for name in ["max", "min", "sum", "mean"] {
            try checkKernel(try makeOp(name), [a, b, c])
            try checkKernel(try makeOp(name), [a])
        }
    }

    static func fused(_ steps: [String], _ attributes: [(String, Attribute)] = []) throws -> any Operator {
        try makeOp("fused_elementwise", [("steps", .strings(steps))] + attributes)
    }

    @Test func fusedChainsMatchReference() throws {
        // A bias add then GELU, as in a transformer's feed-forward layer.
        let x = randomFloats([2, 9, 100], seed: 3), bias = randomFloats([100], seed: 4)
        try checkKernel(try Self.fused(["add($0, $1)", "gelu(%0)"]), [x, bias])
        // A residual add, scale and shift per channel, ReLU6 clip, as in a convolutional network.
        let image = randomFloats([2, 6, 5, 5], seed: 5), residual = randomFloats([2, 6, 5, 5], seed: 6)
        let scale = randomFloats([6, 1, 1], seed: 7)
        let low = Tensor(scalar: 0, .f32), high = Tensor(scalar: 6, .f32)
        try checkKernel(
            try Self.fused(["mul($0, $1)", "add(%0, $2)", "clip(%1, $3, $4)"]), [image, scale, residual, low, high],
            constant: [3, 4])
        // A DAG: x * sigmoid(x) + tanh(x) / (1 + x^2), every step reading earlier ones.
        let y = randomFloats([77], seed: 8), two = Tensor(scalar: 2, .f32), one = Tensor(scalar: 1, .f32)
        try checkKernel(
            try Self.fused([
                "sigmoid($0)", "mul($0, %0)", "tanh($0)", "pow($0, $1)", "add(%3, $2)", "div(%2, %4)", "add(%1, %5)",
            ]), [y, two, one], constant: [1, 2])
        // Attributes of steps.
        try checkKernel(
            try Self.fused(["leaky_relu($0)", "elu(%0)", "hard_sigmoid(%1)"], [("s0.alpha", .float(0.3)), ("s2.beta", .float(0.25))]),
            [randomFloats([3, 33], seed: 9)])
    }

    @Test func symbolicDimsRunAtTwoSizes() throws {
        let op = try Self.fused(["add($0, $1)", "silu(%0)"])
        let types: [TensorType?] = [TensorType(.f32, [.symbol("batch"), .symbol("seq"), 24]), TensorType(.f32, [24])]
        let node = try kernelNode(op, [nil, nil], types: types)
        let kernel = try EmberKernels().makeKernel(node)
        for (batch, seq) in [(1, 5), (3, 17)] {
            let inputs = [randomFloats([batch, seq, 24], seed: UInt64(seq)), randomFloats([24], seed: 2)]
            let expected = try op.evaluate(inputs, outputCount: 1)
            let actual = try runKernel(kernel, inputs, expected: expected)
            #expect(try #require(actual[0].relativeError(to: expected[0])) <= 1e-4)
        }
    }

    @Test func inPlaceOutputMatches() throws {
        let x = randomFloats([5, 300], seed: 11), y = randomFloats([300], seed: 12), z = randomFloats([5, 300], seed: 13)
        let node = try kernelNode(try makeOp("add"), [x, y])
        #expect(EmberKernels().inPlaceInput(node, output: 0) == 0)
        try checkKernel(try makeOp("add"), [x, y], inPlace: true)
        try checkKernel(try Self.fused(["mul($0, $1)", "tanh(%0)", "add(%1, $0)"]), [x, y], inPlace: true)
        try checkKernel(try makeOp("max"), [x, y, z], inPlace: true)
        try checkKernel(try makeOp("clip"), [x, Tensor(scalar: -1, .f32), Tensor(scalar: 1, .f32)], inPlace: true)
        // Input 0 broadcast to a larger output cannot share its buffer.
        let small = try kernelNode(try makeOp("add"), [y, x])
        #expect(EmberKernels().inPlaceInput(small, output: 0) == nil)
    }

    @Test func largeInputsSplitOverThreads() throws {
        // Big enough to be split into chunks on every thread.
        try checkKernel(try Self.fused(["mul($0, $1)", "add(%0, $2)", "relu(%1)"]),
            [randomFloats([4, 64, 1000], seed: 1), randomFloats([64, 1], seed: 2), randomFloats([1000], seed: 3)])
    }

    @Test func supportRefusesWithReasons() throws {
        let provider = EmberKernels()
        func reason(_ node: KernelNode) -> String? {
            if case .unsupported(let why) = provider.support(node) { return why }
            return nil
        }
        let f64 = try kernelNode(try makeOp("add"), [Tensor.random(.f64, [3]), Tensor.random(.f64, [3])])
        #expect(reason(f64)?.contains("f64") == true)
        let ints = try kernelNode(try makeOp("relu"), [Tensor.random(.i32, [3])])
        #expect(reason(ints)?.contains("i32") == true)
        // `mod` has no formula: a fused body holding it has no vector program.
        let modulo = try kernelNode(try Self.fused(["mod($0, $1)", "relu(%0)"]), [randomFloats([3]), randomFloats([3])])
        #expect(reason(modulo)?.contains("mod") == true)
        var blocked = try kernelNode(try makeOp("relu"), [randomFloats([1, 16, 2, 2])])
        blocked.inputLayouts = [.channelBlocked(16)]
        #expect(reason(blocked)?.contains("blocked16c") == true)
        let dynamicExponent = try kernelNode(try makeOp("pow"), [randomFloats([3]), Tensor.random(.i64, [3])])
        #expect(reason(dynamicExponent)?.contains("i64") == true)
        #expect(throws: EmberError.self) { try provider.makeKernel(modulo) }
    }

    @Test func eightThreadsMatchSequentialRuns() throws {
        let op = try Self.fused(["add($0, $1)", "gelu(%0)", "mul(%1, $0)"])
        let node = try kernelNode(op, [randomFloats([16, 33]), randomFloats([33])])
        let kernel = try EmberKernels().makeKernel(node)
        let inputs = (0..<8).map { [randomFloats([16, 33], seed: UInt64($0)), randomFloats([33], seed: UInt64($0 + 100))] }
        let expected = try inputs.map { try op.evaluate($0, outputCount: 1) }
        let sequential = try inputs.indices.map { try runKernel(kernel, inputs[$0], expected: expected[$0]) }
        let results = ThreadResults<[Tensor]>(count: 8)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for _ in 0..<20 {
                results.set(i, try? runKernel(kernel, inputs[i], expected: expected[i]))
            }
        }
        for i in 0..<8 {
            #expect(results.get(i) == sequential[i])
            #expect(try #require(sequential[i][0].relativeError(to: expected[i][0])) <= 1e-4)
        }
    }

    @Test func vectorMathIsCloseToFoundation() {
        var worst: [String: Double] = [:]
        var rng = SeededRandom(seed: 5)
        let inputs = (0..<4096).map { _ in Float.random(in: -20...20, using: &rng) } + [0, -0.0, 1e-6, -1e-6, 0.3, 88, -86]
        func check(_ name: String, _ vector: (FloatVector) -> FloatVector, _ scalar: (Double) -> Double, _ xs: [Float]) {
            for start in stride(from: 0, to: xs.count - 15, by: 16) {
                let v = FloatVector(xs[start..<start + 16])
                let y = vector(v)
                for j in 0..<16 {
                    let exact = scalar(Double(xs[start + j]))
                    let error = exact == 0 ? Swift.abs(Double(y[j])) : Swift.abs(Double(y[j]) - exact) / Swift.abs(exact)
                    worst[name] = max(worst[name] ?? 0, error)
                }
            }
        }
        let small = inputs.map { $0 / 4 }
        check("exp", VectorMath.exp, Foundation.exp, inputs + small)
        check("tanh", VectorMath.tanh, Foundation.tanh, inputs + small)
        check("sigmoid", VectorMath.sigmoid, { 1 / (1 + Foundation.exp(-$0)) }, small)
        check("erf", VectorMath.erf, Foundation.erf, small)
        check("log", VectorMath.log, Foundation.log, inputs.map { Swift.abs($0) + 1e-3 })
        check("expm1", VectorMath.expm1, Foundation.expm1, small)
        print("vector math, worst relative error:", worst.sorted { $0.key < $1.key })
        for (name, error) in worst { #expect(error < 1e-6, "\(name): \(error)") }
        // GELU's 1 + erf(x) is accurate in absolute terms (which is relative to GELU's scale, x).
        for start in stride(from: 0, to: small.count - 15, by: 16) {
            let y = VectorMath.onePlusErf(FloatVector(small[start..<start + 16]))
            for j in 0..<16 { #expect(Swift.abs(Double(y[j]) - (1 + Foundation.erf(Double(small[start + j])))) < 5e-7) }
        }
    }
}
