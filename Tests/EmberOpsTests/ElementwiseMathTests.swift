import EmberIR
import EmberOps
import EmberTestSupport
import Foundation
import Testing

private func run(_ op: any Operator, _ x: Tensor) throws -> Tensor { try evaluateOp(op, [x])[0] }

/// `op` on f64 inputs: the values, for comparing against hand-computed ones.
private func values(_ op: any Operator, _ xs: [Double]) throws -> [Double] {
    try run(op, Tensor(.f64, shape: [xs.count], doubles: xs)).doubles()
}

private func close(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-12) -> Bool {
    a.count == b.count
        && zip(a, b).allSatisfy { x, y in x == y || (x.isNaN && y.isNaN) || abs(x - y) <= tolerance * max(1, abs(y)) }
}

@Suite struct ElementwiseMathTests {
    @Test func mathFunctions() throws {
        let xs = [-2.5, -0.5, 0, 0.5, 2.5]
        #expect(try values(Abs(), xs) == [2.5, 0.5, 0, 0.5, 2.5])
        #expect(try values(Neg(), xs) == [2.5, 0.5, -0.0, -0.5, -2.5])
        #expect(try values(Floor(), xs) == [-3, -1, 0, 0, 2])
        #expect(try values(Ceil(), xs) == [-2, -0.0, 0, 1, 3])
        #expect(try values(Round(), xs + [1.5, -4.5, 2.3]) == [-2, -0.0, 0, 0, 2, 2, -4, 2])
        #expect(try values(Sign(), xs) == [-1, -1, 0, 1, 1])
        #expect(try values(Reciprocal(), [2, -4]) == [0.5, -0.25])
        #expect(try values(Sqrt(), [4, 2.25]) == [2, 1.5])
        #expect(try values(Sqrt(), [-1])[0].isNaN)
        #expect(close(try values(Exp(), xs), xs.map { exp($0) }))
        #expect(close(try values(Log(), [1, M_E]), [0, 1]))
        #expect(close(try values(Erf(), xs), xs.map { erf($0) }))
        #expect(close(try values(Sin(), xs), xs.map { sin($0) }))
        #expect(close(try values(Cos(), xs), xs.map { cos($0) }))
        #expect(close(try values(Tan(), xs), xs.map { tan($0) }))
        #expect(close(try values(Asin(), [-0.5, 0.5]), [-0.5, 0.5].map { asin($0) }))
        #expect(close(try values(Acos(), [-0.5, 0.5]), [-0.5, 0.5].map { acos($0) }))
        #expect(close(try values(Atan(), xs), xs.map { atan($0) }))
        #expect(close(try values(Sinh(), xs), xs.map { sinh($0) }))
        #expect(close(try values(Cosh(), xs), xs.map { cosh($0) }))
        #expect(close(try values(Tanh(), xs), xs.map { tanh($0) }))
        #expect(close(try values(Asinh(), xs), xs.map { asinh($0) }))
        #expect(close(try values(Acosh(), [1, 2.5]), [0, acosh(2.5)]))
        #expect(close(try values(Atanh(), [-0.5, 0.5]), [-0.5, 0.5].map { atanh($0) }))
    }

    @Test func integerUnaryOps() throws {
        let x = Tensor(.i32, shape: [3], int64s: [-3, 0, 7])
        #expect(try run(Abs(), x) == Tensor(.i32, shape: [3], int64s: [3, 0, 7]))
        #expect(try run(Neg(), x) == Tensor(.i32, shape: [3], int64s: [3, 0, -7]))
        #expect(try run(Sign(), x) == Tensor(.i32, shape: [3], int64s: [-1, 0, 1]))
        #expect(try run(Relu(), x) == Tensor(.i32, shape: [3], int64s: [0, 0, 7]))
        let u = Tensor(shape: [2], storage: .u64([UInt64.max, 0]))
        #expect(try run(Abs(), u) == u)
        #expect(try run(Sign(), u) == Tensor(shape: [2], storage: .u64([1, 0])))
        #expect(throws: EmberError.self) { try run(Neg(), Tensor(shape: [1], storage: .u8([1]))) }
        #expect(throws: EmberError.self) { try run(Exp(), x) }
    }

    @Test func predicates() throws {
        let x = Tensor(shape: [4], floats: [.nan, .infinity, -.infinity, 1])
        #expect(try run(IsNaN(), x).bools() == [true, false, false, false])
        #expect(try run(IsInf(), x).bools() == [false, true, true, false])
        #expect(try run(IsInf(detectNegative: false), x).bools() == [false, true, false, false])
        #expect(try run(IsInf(detectPositive: false), x).bools() == [false, false, true, false])
        #expect(throws: EmberError.self) { try run(IsNaN(), Tensor(shape: [1], int64s: [1])) }
    }

    @Test func activations() throws {
        let xs = [-2.0, -0.5, 0, 0.5, 2]
        #expect(try values(Relu(), xs) == [0, 0, 0, 0.5, 2])
        #expect(try values(LeakyRelu(alpha: 0.1), xs) == [-0.2, -0.05, 0, 0.5, 2])
        #expect(try values(ThresholdedRelu(alpha: 0.5), xs) == [0, 0, 0, 0, 2])
        #expect(close(try values(Elu(alpha: 2), xs), xs.map { $0 >= 0 ? $0 : 2 * (exp($0) - 1) }))
        let selu = Selu()
        #expect(close(try values(selu, xs), xs.map { $0 > 0 ? selu.gamma * $0 : selu.gamma * selu.alpha * (exp($0) - 1) }))
        #expect(close(try values(Celu(alpha: 2), xs), xs.map { max(0, $0) + min(0, 2 * (exp($0 / 2) - 1)) }))
        let sigmoid = xs.map { 1 / (1 + exp(-$0)) }
        #expect(close(try values(Sigmoid(), xs), sigmoid))
        #expect(close(try values(HardSigmoid(alpha: 0.5, beta: 0.5), xs), [0, 0.25, 0.5, 0.75, 1]))
        #expect(close(try values(HardSwish(), [-4, -1, 0, 1, 4]), [0, -1.0 / 3, 0, 2.0 / 3, 4]))
        #expect(close(try values(Softsign(), xs), xs.map { $0 / (1 + abs($0)) }))
        #expect(close(try values(Softplus(), xs + [800, -800]), xs.map { log(1 + exp($0)) } + [800, 0]))
        #expect(close(try values(Mish(), xs), xs.map { $0 * tanh(log(1 + exp($0))) }))
        #expect(close(try values(Silu(), xs), zip(xs, sigmoid).map(*)))
        #expect(close(try values(Swish(alpha: 2), xs), xs.map { $0 / (1 + exp(-2 * $0)) }))
        #expect(close(try values(Gelu(), xs), xs.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }))
        let tanhGelu = xs.map { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
        #expect(close(try values(Gelu(approximate: .tanh), xs), tanhGelu))
        let prelu = try evaluateOp(
            PRelu(), [Tensor(shape: [2, 2], floats: [-1, 2, -3, 4]), Tensor(shape: [2, 1], floats: [0.5, 0.25])])[0]
        #expect(prelu == Tensor(shape: [2, 2], floats: [-0.5, 2, -0.75, 4]))
        #expect(try values(Relu(), [.nan])[0].isNaN)
    }

    /// The f32 paths (some with their own branch-free exp and tanh) against f64 rounded to f32:
    /// within one unit in the last place, over a sweep that crosses every regime.
    @Test(arguments: [
        Exp() as any Operator, Sigmoid(), Silu(), Swish(alpha: 1.5), Tanh(), Gelu(), Gelu(approximate: .tanh),
        Sqrt(), Softplus(), Elu(), Erf(), HardSwish(), Relu(), LeakyRelu(), Round(), Reciprocal(),
    ])
    func f32PathsMatchF64(_ op: any Operator) throws {
        var xs: [Float] = [0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 88, 89, -87, -104, -110, 200, -200, 1e30, -1e30]
        xs += [.infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        xs += (0..<4000).map { Float($0 - 2000) / 37.3 }
        let single = try run(op, Tensor(shape: [xs.count], floats: xs)).floats()
        let double = try run(op, Tensor(.f64, shape: [xs.count], doubles: xs.map(Double.init))).doubles().map(Float.init)
        for (i, (a, b)) in zip(single, double).enumerated() {
            let ok = a == b || (a.isNaN && b.isNaN) || (a.isFinite && b.isFinite && abs(a - b) <= b.ulp)
            #expect(ok, "\(op.name)(\(xs[i])) = \(a), expected \(b)")
            if !ok { return }
        }
    }

    @Test func halfPrecisionComputesInDouble() throws {
        let x = Tensor(.f16, shape: [3], doubles: [-1, 0.5, 2])
        let y = try run(Sigmoid(), x)
        #expect(y.dtype == .f16)
        #expect(y.doubles() == [-1.0, 0.5, 2].map { Double(Float16(Float(1 / (1 + exp(-$0))))) })
        let b = try run(Exp(), Tensor(.bf16, shape: [1], doubles: [1]))
        #expect(b.dtype == .bf16 && b.doubles() == [Double(BFloat16(Float(M_E)).floatValue)])
    }
}
