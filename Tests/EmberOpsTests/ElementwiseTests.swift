import EmberIR
import EmberOps
import EmberTestSupport
import Testing

/// `op` on `inputs` through the reference backend: the single output.
private func run(_ op: any Operator, _ inputs: Tensor?...) throws -> Tensor {
    try evaluateOp(op, inputs)[0]
}

private func typed(_ dtype: DType, _ shape: [Int], _ values: [Double]) -> Tensor {
    Tensor(dtype, shape: shape, doubles: values)
}

@Suite struct ElementwiseTests {
    // MARK: Shapes

    @Test func addBroadcastsSymbolicBatch() throws {
        let a = TensorType(.f32, ["batch", 1, 4])
        let b = TensorType(.f32, [3, 1])
        let out = try Add().inferTypes(OpInputs("add", types: [a, b]), outputCount: 1)
        #expect(out == [TensorType(.f32, ["batch", 3, 4])])
    }

    @Test func inferenceKeepsSymbolsAndUnknownRank() throws {
        let x = TensorType(.f32, ["n", "c"])
        let less = try Less().inferTypes(OpInputs("less", types: [x, TensorType(.f32, [1])]), outputCount: 1)
        #expect(less == [TensorType(.bool, ["n", "c"])])
        let cond = TensorType(.bool, ["n", 1])
        let selected = try Where().inferTypes(
            OpInputs("where", types: [cond, x, TensorType(.f32, [])]), outputCount: 1)
        #expect(selected == [TensorType(.f32, ["n", "c"])])
        let unknownRank = TensorType(.f32, nil)
        #expect(try Mul().inferTypes(OpInputs("mul", types: [x, unknownRank]), outputCount: 1)
            == [TensorType(.f32, nil)])
        let sum = try Sum().inferTypes(
            OpInputs("sum", types: [x, TensorType(.f32, ["c"]), TensorType(.f32, [1, 1])]), outputCount: 1)
        #expect(sum == [TensorType(.f32, ["n", "c"])])
        let pow = try Pow().inferTypes(OpInputs("pow", types: [x, TensorType(.i64, [])]), outputCount: 1)
        #expect(pow == [TensorType(.f32, ["n", "c"])])
        let cast = try Cast(to: .f16).inferTypes(OpInputs("cast", types: [x]), outputCount: 1)
        #expect(cast == [TensorType(.f16, ["n", "c"])])
        let clip = try Clip().inferTypes(OpInputs("clip", types: [x, nil, TensorType(.f32, [])]), outputCount: 1)
        #expect(clip == [x])
        let nan = try IsNaN().inferTypes(OpInputs("is_nan", types: [x]), outputCount: 1)
        #expect(nan == [TensorType(.bool, ["n", "c"])])
        let two = try Add().inferTypes(
            OpInputs("add", types: [TensorType(.f32, ["a"]), TensorType(.f32, ["b"])]), outputCount: 1)
        #expect(two == [TensorType(.f32, [.unknown])])
    }

    @Test func addEvaluatesWithBroadcasting() throws {
        let a = Tensor(shape: [2, 1], floats: [1, 2])
        let b = Tensor(shape: [3], floats: [10, 20, 30])
        let y = try evaluateOp(Add(), [a, b])[0]
        #expect(y == Tensor(shape: [2, 3], floats: [11, 21, 31, 12, 22, 32]))
    }

    /// The row loops against the plain index map of `Broadcast.indices`, for every pattern of
    /// broadcasting and several dtypes.
    @Test(arguments: [
        ([2, 3, 4], [2, 3, 4]), ([2, 3, 4], []), ([], [2, 3, 4]), ([2, 3, 4], [4]), ([2, 3, 4], [3, 1]),
        ([2, 1, 4], [1, 3, 1]), ([5, 1], [1, 6]), ([1], [7]), ([2, 3, 1, 5], [3, 4, 1]), ([4, 2], [4, 1]),
        ([3, 0, 2], [1, 2]), ([1, 1, 1], [1]),
    ])
    func broadcastingMatchesIndexMap(_ shapes: ([Int], [Int])) throws {
        let (sa, sb) = shapes
        let out = try Broadcast.shape(sa, sb, op: "test")
        let ia = Broadcast.indices(from: sa, to: out)
        let ib = Broadcast.indices(from: sb, to: out)
        for dtype in [DType.f32, .f64, .i32, .u8, .f16] {
            let a = Tensor.random(dtype, sa, in: 0...9, seed: 1)
            let b = Tensor.random(dtype, sb, in: 1...9, seed: 2)
            let (x, y) = (a.doubles(), b.doubles())
            let expected = Tensor(dtype, shape: out, doubles: zip(ia, ib).map { x[$0] - y[$1] })
            #expect(try run(Sub(), a, b) == expected, "\(dtype) \(sa) - \(sb)")
            let less = Tensor(shape: out, bools: zip(ia, ib).map { x[$0] < y[$1] })
            #expect(try run(Less(), a, b) == less, "\(dtype) \(sa) < \(sb)")
        }
        let c = Tensor.random(.bool, sa, seed: 3)
        let d = Tensor.random(.i64, sb, in: -5...5, seed: 4)
        let e = Tensor.random(.i64, out, in: -5...5, seed: 5)
        let (cv, dv, ev) = (c.bools(), d.int64s(), e.int64s())
        let selected = Tensor(shape: out, int64s: (0..<ia.count).map { cv[ia[$0]] ? dv[ib[$0]] : ev[$0] })
        #expect(try run(Where(), c, d, e) == selected)
    }

    @Test func broadcastErrorsThrow() throws {
        #expect(throws: EmberError.self) { try run(Add(), f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([2], [1, 2])) }
        #expect(throws: EmberError.self) {
            try Add().inferTypes(
                OpInputs("add", types: [TensorType(.f32, [2, 3]), TensorType(.f32, [4])]), outputCount: 1)
        }
        #expect(throws: EmberError.self) { try run(Add(), f32([2], [1, 2]), Tensor(shape: [2], int64s: [1, 2])) }
        #expect(throws: EmberError.self) {
            try run(Add(), Tensor(shape: [2], storage: .f32([1, 2, 3])), f32([2], [1, 2]))
        }
    }

    // MARK: Arithmetic

    @Test func integerArithmeticWrapsAndDividesSafely() throws {
        let a = Tensor(.i32, shape: [4], int64s: [7, -7, Int64(Int32.max), Int64(Int32.min)])
        let b = Tensor(.i32, shape: [4], int64s: [2, 2, 1, -1])
        #expect(try run(Add(), a, b) == Tensor(.i32, shape: [4], int64s: [9, -5, Int64(Int32.min), Int64(Int32.max)]))
        #expect(try run(Div(), a, b) == Tensor(.i32, shape: [4], int64s: [3, -3, Int64(Int32.max), Int64(Int32.min)]))
        let zero = Tensor(.i32, shape: [], int64s: [0])
        #expect(try run(Div(), a, zero) == Tensor(.i32, shape: [4], int64s: [0, 0, 0, 0]))
        let big = Tensor(shape: [2], storage: .u64([UInt64.max, 10]))
        let three = Tensor(shape: [], storage: .u64([3]))
        #expect(try run(Div(), big, three) == Tensor(shape: [2], storage: .u64([UInt64.max / 3, 3])))
        #expect(try run(Mul(), Tensor(shape: [1], storage: .u8([200])), Tensor(shape: [1], storage: .u8([2])))
            == Tensor(shape: [1], storage: .u8([144])))
    }

    @Test func modFollowsDivisorOrDividend() throws {
        let a = Tensor(shape: [4], int64s: [-4, 7, 5, -8])
        let b = Tensor(shape: [4], int64s: [3, -3, 0, 3])
        #expect(try run(Mod(), a, b) == Tensor(shape: [4], int64s: [2, -2, 0, 1]))
        #expect(try run(Mod(fmod: true), a, b) == Tensor(shape: [4], int64s: [-1, 1, 0, -2]))
        let x = Tensor(.f64, shape: [5], doubles: [-4.5, 7, 0, 3, 1])
        let y = Tensor(.f64, shape: [5], doubles: [2, -3, -2, 0, .infinity])
        let floored = try run(Mod(), x, y).doubles()
        #expect(floored[0] == 1.5 && floored[1] == -2 && floored[3].isNaN && floored[4] == 1)
        #expect(floored[2] == 0 && floored[2].sign == .minus)
        let truncated = try run(Mod(fmod: true), x, y).doubles()
        #expect(truncated[0] == -0.5 && truncated[1] == 1 && truncated[4] == 1)
        let min = Tensor(shape: [1], int64s: [Int64.min])
        #expect(try run(Mod(), min, Tensor(shape: [1], int64s: [-1])) == Tensor(shape: [1], int64s: [0]))
        let u = Tensor(shape: [1], storage: .u64([UInt64.max]))
        #expect(try run(Mod(), u, Tensor(shape: [1], storage: .u64([10]))) == Tensor(shape: [1], storage: .u64([5])))
    }

    @Test func powMixesBaseAndExponentTypes() throws {
        let x = f32([3], [2, -3, 4])
        #expect(try run(Pow(), x, Tensor(scalar: 2, .f32)) == f32([3], [4, 9, 16]))
        #expect(try run(Pow(), x, Tensor(shape: [], int64s: [3])) == f32([3], [8, -27, 64]))
        #expect(try run(Pow(), x, f32([3], [0.5, 2, -1])).floats().map { $0.isNaN ? -1 : $0 }
            == [Float(2).squareRoot(), 9, 0.25])
        let base = Tensor(.i64, shape: [4], int64s: [2, -2, 1, -1])
        #expect(try run(Pow(), base, Tensor(.i32, shape: [4], int64s: [10, 3, -5, -3]))
            == Tensor(.i64, shape: [4], int64s: [1024, -8, 1, -1]))
        #expect(try run(Pow(), base, Tensor(.i64, shape: [1], int64s: [-1]))
            == Tensor(.i64, shape: [4], int64s: [0, 0, 1, -1]))
        #expect(try run(Pow(), Tensor(.i32, shape: [2], int64s: [4, 9]), f32([1], [0.5]))
            == Tensor(.i32, shape: [2], int64s: [2, 3]))
        #expect(try run(Pow(), Tensor(.i64, shape: [1], int64s: [3]), Tensor(shape: [1], storage: .u8([4])))
            == Tensor(.i64, shape: [1], int64s: [81]))
        #expect(try run(Pow(), x, Tensor(shape: [3], storage: .u64([4, 5, 1]))) == f32([3], [16, -243, 4]))
        #expect(throws: EmberError.self) { try run(Pow(), Tensor(shape: [1], storage: .u8([2])), x) }
        #expect(throws: EmberError.self) { try run(Pow(), x, Tensor(shape: [1], bools: [true])) }
    }

    @Test func variadicOpsFoldWithBroadcasting() throws {
        let a = f32([2, 1], [1, 5])
        let b = f32([3], [2, 3, 4])
        let c = f32([], [3])
        #expect(try run(Max(), a, b, c) == f32([2, 3], [3, 3, 4, 5, 5, 5]))
        #expect(try run(Min(), a, b, c) == f32([2, 3], [1, 1, 1, 2, 3, 3]))
        #expect(try run(Sum(), a, b, c) == f32([2, 3], [6, 7, 8, 10, 11, 12]))
        #expect(try run(Mean(), a, b) == f32([2, 3], [1.5, 2, 2.5, 3.5, 4, 4.5]))
        #expect(try run(Max(), a) == a)
        let withNaN = try run(Max(), f32([2], [.nan, 1]), f32([2], [0, .nan])).floats()
        #expect(withNaN[0].isNaN && withNaN[1].isNaN)
        let u = try run(Max(), Tensor(shape: [1], storage: .u64([UInt64.max])), Tensor(shape: [1], storage: .u64([1])))
        #expect(u == Tensor(shape: [1], storage: .u64([UInt64.max])))
        #expect(throws: EmberError.self) { try run(Sum(), Tensor(shape: [1], int64s: [1]), Tensor(shape: [1], int64s: [1])) }
        #expect(throws: EmberError.self) { try run(Max(), a, Tensor(shape: [1], int64s: [1])) }
    }

    // MARK: Comparison and logic

    @Test func comparisonsHandleNaNAndUnsigned() throws {
        let a = f32([4], [1, .nan, 3, -0.0])
        let b = f32([4], [1, .nan, 2, 0])
        #expect(try run(Equal(), a, b).bools() == [true, false, false, true])
        #expect(try run(LessOrEqual(), a, b).bools() == [true, false, false, true])
        #expect(try run(Greater(), a, b).bools() == [false, false, true, false])
        #expect(try run(GreaterOrEqual(), a, b).bools() == [true, false, true, true])
        let u = Tensor(shape: [2], storage: .u64([UInt64.max, 1]))
        let v = Tensor(shape: [2], storage: .u64([1, UInt64.max]))
        #expect(try run(Less(), u, v).bools() == [false, true])
        let p = Tensor(shape: [3], bools: [true, false, true])
        #expect(try run(Equal(), p, Tensor(shape: [1], bools: [true])).bools() == [true, false, true])
        #expect(throws: EmberError.self) { try run(Less(), p, p) }
    }

    @Test func logicalAndBitwiseOps() throws {
        let a = Tensor(shape: [2, 2], bools: [true, true, false, false])
        let b = Tensor(shape: [2], bools: [true, false])
        #expect(try run(And(), a, b).bools() == [true, false, false, false])
        #expect(try run(Or(), a, b).bools() == [true, true, true, false])
        #expect(try run(Xor(), a, b).bools() == [false, true, true, false])
        #expect(try run(Not(), b).bools() == [false, true])
        #expect(throws: EmberError.self) { try run(And(), a, f32([1], [1])) }
        #expect(throws: EmberError.self) { try run(Not(), f32([1], [1])) }

        let x = Tensor(shape: [3], storage: .u8([0b1100, 0xFF, 1]))
        let y = Tensor(shape: [3], storage: .u8([0b1010, 0x0F, 0]))
        #expect(try run(BitwiseAnd(), x, y) == Tensor(shape: [3], storage: .u8([0b1000, 0x0F, 0])))
        #expect(try run(BitwiseOr(), x, y) == Tensor(shape: [3], storage: .u8([0b1110, 0xFF, 1])))
        #expect(try run(BitwiseXor(), x, y) == Tensor(shape: [3], storage: .u8([0b0110, 0xF0, 1])))
        #expect(try run(BitwiseNot(), x) == Tensor(shape: [3], storage: .u8([0b1111_0011, 0, 0xFE])))
        #expect(try run(BitwiseNot(), Tensor(.i32, shape: [1], int64s: [5])) == Tensor(.i32, shape: [1], int64s: [-6]))
        #expect(throws: EmberError.self) { try run(BitwiseAnd(), f32([1], [1]), f32([1], [1])) }
    }

    @Test func bitShiftKeepsSignFillAndWidth() throws {
        let left = BitShift(direction: .left)
        let right = BitShift(direction: .right)
        let u = Tensor(shape: [4], storage: .u8([1, 200, 16, 255]))
        let by = Tensor(shape: [4], storage: .u8([1, 3, 4, 8]))
        #expect(try run(left, u, by) == Tensor(shape: [4], storage: .u8([2, 64, 0, 0])))
        #expect(try run(right, u, by) == Tensor(shape: [4], storage: .u8([0, 25, 1, 0])))
        let s = Tensor(.i8, shape: [4], int64s: [-128, -5, 64, -1])
        let n = Tensor(.i8, shape: [4], int64s: [1, 1, 1, 9])
        #expect(try run(right, s, n) == Tensor(.i8, shape: [4], int64s: [-64, -3, 32, -1]))
        #expect(try run(left, s, n) == Tensor(.i8, shape: [4], int64s: [0, -10, -128, 0]))
        let negative = Tensor(.i8, shape: [1], int64s: [-2])
        #expect(try run(right, Tensor(.i8, shape: [1], int64s: [-7]), negative) == Tensor(.i8, shape: [1], int64s: [-1]))
        #expect(try run(left, Tensor(.i8, shape: [1], int64s: [7]), negative) == Tensor(.i8, shape: [1], int64s: [0]))
        let big = Tensor(shape: [2], storage: .u64([UInt64.max, 1]))
        #expect(try run(right, big, Tensor(shape: [2], storage: .u64([63, 64])))
            == Tensor(shape: [2], storage: .u64([1, 0])))
    }

    // MARK: Selection, clipping and casts

    @Test func whereSelectsEveryDType() throws {
        let c = Tensor(shape: [3], bools: [true, false, true])
        for dtype in DType.allCases {
            let x = Tensor.random(dtype, [2, 3], in: 1...9, seed: 7)
            let y = Tensor.random(dtype, [1], in: 1...9, seed: 8)
            let out = try run(Where(), c, x, y)
            let (xv, yv) = (x.doubles(), y.doubles())
            #expect(out.dtype == dtype && out.shape == [2, 3])
            #expect(out.doubles() == [xv[0], yv[0], xv[2], xv[3], yv[0], xv[5]])
        }
        #expect(throws: EmberError.self) { try run(Where(), f32([1], [1]), f32([1], [1]), f32([1], [1])) }
        #expect(throws: EmberError.self) { try run(Where(), c, f32([1], [1]), Tensor(shape: [1], int64s: [1])) }
    }

    @Test func clipTakesOptionalBounds() throws {
        let x = f32([5], [-2, -0.5, 0.5, 2, .nan])
        let lo = f32([], [-1])
        let hi = f32([1], [1])
        #expect(try run(Clip(), x, lo, hi).floats().dropLast() == [-1, -0.5, 0.5, 1])
        #expect(try run(Clip(), x, lo, hi).floats().last?.isNaN == true)
        #expect(try run(Clip(), x, nil, hi).floats().dropLast() == [-2, -0.5, 0.5, 1])
        #expect(try run(Clip(), x, lo).floats().dropLast() == [-1, -0.5, 0.5, 2])
        #expect(try run(Clip(), x, f32([], [2]), f32([], [1])).floats().dropLast() == [1, 1, 1, 1])
        let i = Tensor(.i32, shape: [3], int64s: [-5, 0, 5])
        #expect(try run(Clip(), i, Tensor(.i32, shape: [], int64s: [-1]), Tensor(.i32, shape: [], int64s: [2]))
            == Tensor(.i32, shape: [3], int64s: [-1, 0, 2]))
        let u = Tensor(shape: [2], storage: .u64([UInt64.max, 3]))
        #expect(try run(Clip(), u, Tensor(shape: [], storage: .u64([5])))
            == Tensor(shape: [2], storage: .u64([UInt64.max, 5])))
        #expect(throws: EmberError.self) { try run(Clip(), x, f32([2], [0, 1])) }
        #expect(throws: EmberError.self) { try run(Clip(), x, Tensor(.f64, shape: [], doubles: [0])) }
        #expect(throws: EmberError.self) {
            try Clip().inferTypes(OpInputs("clip", types: [TensorType(.f32, [3]), TensorType(.f32, [2])]), outputCount: 1)
        }
    }

    @Test func castConvertsBetweenDTypes() throws {
        let x = f32([5], [1.5, -2.7, 0, .nan, 300])
        #expect(try run(Cast(to: .i32), x) == Tensor(.i32, shape: [5], int64s: [1, -2, 0, 0, 300]))
        #expect(try run(Cast(to: .bool), x).bools() == [true, true, false, true, true])
        #expect(try run(Cast(to: .f16), x).doubles().prefix(3) == [1.5, -2.69921875, 0])
        #expect(try run(Cast(to: .bf16), f32([1], [1.00390625])).doubles() == [1.0])
        #expect(try run(Cast(to: .f32), Tensor(.bf16, shape: [1], doubles: [2.5])) == f32([1], [2.5]))
        #expect(try run(Cast(to: .f64), x).doubles()[1] == Double(Float(-2.7)))
        #expect(try run(Cast(to: .u8), Tensor(.i16, shape: [2], int64s: [200, -56]))
            == Tensor(shape: [2], storage: .u8([200, 200])))
        #expect(try run(Cast(to: .i8), Tensor(.i16, shape: [1], int64s: [200])) == Tensor(.i8, shape: [1], int64s: [-56]))
        #expect(try run(Cast(to: .f32), Tensor(shape: [2], bools: [true, false])) == f32([2], [1, 0]))
        #expect(try run(Cast(to: .f64), Tensor(shape: [2], storage: .u64([7, UInt64.max]))).doubles() == [7, 0x1p64])
        let attrs = Attributes(op: "cast", [("to", .int(10)), ("saturate", .int(1))])
        #expect(try Cast(attributes: attrs).to == .f16)
        #expect(throws: EmberError.self) { try Cast(attributes: Attributes(op: "cast")) }
        #expect(throws: EmberError.self) { try Cast(attributes: Attributes(op: "cast", [("to", .int(8))])) }
    }

    // MARK: Attributes

    @Test func everyOpRoundTripsItsAttributes() throws {
        let required: [String: Attributes] = [
            "cast": Attributes(op: "cast", [("to", .dtype(.f16))]),
            "bit_shift": Attributes(op: "bit_shift", [("direction", .string("LEFT"))]),
        ]
        for type in ElementwiseOps.all {
            let op = try type.init(attributes: required[type.name] ?? Attributes(op: type.name))
            let again = try type.init(attributes: op.attributes)
            #expect(again.attributes == op.attributes, "\(type.name)")
            #expect(op.traits.contains(.elementwise), "\(type.name)")
        }
    }

    @Test func badAttributesThrow() throws {
        let cases: [(any Operator.Type, [(String, Attribute)])] = [
            (Mod.self, [("fmod", .int(2))]),
            (BitShift.self, [("direction", .string("UP"))]),
            (BitShift.self, []),
            (Gelu.self, [("approximate", .string("erf"))]),
            (Celu.self, [("alpha", .float(0))]),
            (Relu.self, [("alpha", .float(1))]),
            (LeakyRelu.self, [("alpha", .string("x"))]),
            (IsInf.self, [("detect_all", .int(1))]),
        ]
        for (type, attrs) in cases {
            #expect(throws: EmberError.self, "\(type.name) \(attrs)") {
                try type.init(attributes: Attributes(op: type.name, attrs))
            }
        }
    }
}
