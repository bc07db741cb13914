import EmberIR
import EmberOps
import EmberTestSupport
import Foundation
import Testing

/// Every op's `ScalarFormula`, which the CPU and CUDA backends compile, against the op's own
/// reference evaluation: both in `Double`, on random operands, so the two may differ only by
/// rounding.
@Suite struct ScalarFormulaTests {
    /// Ops with attributes other than their defaults, so that attributes reach the formula.
    static let variants: [(String, [(String, Attribute)])] = [
        ("leaky_relu", [("alpha", .float(0.3))]), ("elu", [("alpha", .float(0.7))]),
        ("celu", [("alpha", .float(2))]), ("selu", [("alpha", .float(1.2)), ("gamma", .float(0.9))]),
        ("thresholded_relu", [("alpha", .float(0.4))]), ("swish", [("alpha", .float(1.5))]),
        ("hard_sigmoid", [("alpha", .float(0.3)), ("beta", .float(0.4))]),
        ("gelu", [("approximate", .string("tanh"))]),
    ]

    /// The range each op's operands are drawn from: inside its domain, away from poles.
    static func range(_ name: String) -> ClosedRange<Double> {
        switch name {
        case "asin", "acos", "atanh": -0.95...0.95
        case "acosh": 1.01...20
        case "log", "sqrt", "pow": 0.01...5
        case "tan": -1.4...1.4
        default: -6...6
        }
    }

    static func operandCount(_ op: any Operator) -> Int {
        switch op {
        case is Clip: 3
        case is Max, is Min, is Sum, is Mean: 3
        default: type(of: op).inputArity.lowerBound
        }
    }

    static var ops: [any ScalarElementwise] {
        var ops: [any ScalarElementwise] = OperatorRegistry.standard.names.compactMap {
            try? OperatorRegistry.standard.make($0, Attributes(op: $0)) as? any ScalarElementwise
        }
        for (name, attributes) in variants {
            if let op = try? OperatorRegistry.standard.make(name, Attributes(op: name, attributes)) as? any ScalarElementwise {
                ops.append(op)
            }
        }
        return ops
    }

    @Test func everyFormulaMatchesItsReference() throws {
        let ops = Self.ops
        // The activations and math functions all have formulas, so the CPU and CUDA loops cover them.
        #expect(ops.count >= 45, "\(ops.count) ops with formulas")
        for op in ops {
            let n = Self.operandCount(op)
            let count = 257
            var inputs = (0..<n).map { k in
                Tensor.random(.f64, [count], in: Self.range(type(of: op).name), seed: UInt64(11 + k))
            }
            if op is Clip {
                inputs[1] = Tensor(scalar: -1.5, .f64)
                inputs[2] = Tensor(scalar: 2, .f64)
            }
            let expected = try op.evaluate(inputs, outputCount: 1)[0].doubles()
            let formula = try op.formula((0..<n).map { .operand($0) })
            let values = inputs.map { $0.doubles() }
            for i in 0..<count {
                let operands = values.map { $0.count == 1 ? $0[0] : $0[i] }
                let (actual, wanted) = (formula.evaluate(operands), expected[i])
                let same = actual == wanted || (actual.isNaN && wanted.isNaN)
                    || abs(actual - wanted) <= 1e-12 * max(1, abs(wanted))
                #expect(same, "\(type(of: op).name) \(op.attributes) at \(operands): formula \(actual), reference \(wanted)")
                if !same { break }
            }
        }
    }

    @Test func absentOperandsLeaveOutTheirTerm() throws {
        let clip = try Clip().formula([.operand(0), nil, .operand(2)])
        #expect(clip == .min(.operand(0), .operand(2)))
        #expect(throws: EmberError.self) { try Relu().formula([]) }
        #expect(throws: EmberError.self) { try Max().formula([.operand(0), nil]) }
    }
}
