import EmberIR

/// A reader for the pickles inside `torch.save` files (`data.pkl`): a dictionary from names to
/// tensors, each a reference to a storage file beside the pickle.
///
/// This is not a Python unpickler. It runs the small set of opcodes `torch.save` emits (protocols 2
/// through 5) on a stack of plain values, and the only callables it knows are the handful that
/// rebuild tensors and ordered dictionaries; any other global is refused by name. Every length is
/// checked against the bytes left before anything is read or allocated, and the stack and memo are
/// bounded, so a damaged or hostile pickle gives an error, never a crash and never code execution.
enum TorchPickle {
    /// A value on the pickle machine's stack.
    indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case bytes([UInt8])
        case tuple([Value])
        case list([Value])
        case dict([(Value, Value)])
        /// A global the reader knows, `module.name`, not yet called.
        case global(String)
        /// A storage a tensor views: `('storage', torch.FloatStorage, key, location, numel)`.
        case storage(Storage)
        case tensor(TensorReference)
        case mark
    }

    /// One storage file: `data/<key>` beside the pickle, `count` elements of `dtype`.
    struct Storage {
        var dtype: DType
        var key: String
        var count: Int
    }

    /// A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage.
    struct TensorReference {
        var storage: Storage
        var offset: Int
        var sizes: [Int]
        var strides: [Int]
    }

    /// The globals a `torch.save` pickle of plain tensors uses. Anything else is refused.
    static let knownGlobals: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
    ]

    /// Storage classes and the dtypes of their elements.
    static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .f32, "torch.DoubleStorage": .f64, "torch.HalfStorage": .f16,
        "torch.BFloat16Storage": .bf16, "torch.LongStorage": .i64, "torch.IntStorage": .i32,
        "torch.ShortStorage": .i16, "torch.CharStorage": .i8, "torch.ByteStorage": .u8, "torch.BoolStorage": .bool,
    ]

    static let maximumDepth = 10_000
    static let maximumNesting = 64
    static let maximumMemo = 1_000_000

    /// Runs the pickle and returns the value it leaves, or throws naming what it could not read.
    static func load(_ bytes: [UInt8], origin: String) throws -> Value {
        var machine = Machine(bytes: bytes, origin: origin)
        return try machine.run()
    }

    struct Machine {
        let bytes: [UInt8]
        let origin: String
        var position = 0
        /// The values on the stack, each with how deeply it nests containers.
        var stack: [(value: Value, depth: Int)] = []
        var memo: [Int: (value: Value, depth: Int)] = [:]
        /// The deepest value the current opcode has popped: what a container it builds nests.
        var poppedDepth = 0

        init(bytes: [UInt8], origin: String) {
            self.bytes = bytes
            self.origin = origin
        }

        func fail(_ message: String) -> EmberError {
            EmberError(.invalidModel, "'\(origin)' is not a pickle of tensors Ember can read: \(message)")
        }

        // MARK: Reading bytes

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, count <= bytes.count - position else {
                throw fail("a field of \(count) bytes at offset \(position) runs past the end (\(bytes.count) bytes)")
            }
            defer { position += count }
            return bytes[position..<position + count]
        }

        /// A little-endian unsigned integer of `width` bytes.
        mutating func unsigned(_ width: Int) throws -> UInt64 {
            try take(width).reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }

        mutating func length(_ width: Int) throws -> Int {
            let n = try unsigned(width)
            guard n <= UInt64(bytes.count - position) else {
                throw fail("a field declares \(n) bytes at offset \(position) but \(bytes.count - position) remain")
            }
            return Int(n)
        }

        mutating func line() throws -> String {
            guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw fail("unterminated text at offset \(position)") }
            defer { position = end + 1 }
            return String(decoding: bytes[position..<end], as: UTF8.self)
        }

        mutating func text(_ count: Int) throws -> String {
            let slice = try take(count)
            guard let s = String(validating: slice, as: UTF8.self) else { throw fail("invalid UTF-8 at offset \(position - count)") }
            return s
        }

        // MARK: The stack

        /// Pushes a value; `nesting` is true for a container built of what the opcode popped.
        mutating func push(_ value: Value, nesting: Bool = false) throws {
            try push((value, nesting ? poppedDepth + 1 : 0))
        }

        mutating func push(_ slot: (value: Value, depth: Int)) throws {
            guard stack.count < TorchPickle.maximumDepth else { throw fail("the stack grows past \(TorchPickle.maximumDepth) values") }
            // Deeply nested values would be freed recursively: refuse them while they are shallow.
            guard slot.depth <= TorchPickle.maximumNesting else {
                throw fail("values nest deeper than \(TorchPickle.maximumNesting) levels")
            }
            stack.append(slot)
        }

        mutating func pop() throws -> Value {
            guard let slot = stack.popLast() else { throw fail("pops an empty stack at offset \(position)") }
            if case .mark = slot.value { throw fail("pops a mark at offset \(position)") }
            poppedDepth = max(poppedDepth, slot.depth)
            return slot.value
        }

        /// The values above the topmost mark, which is removed.
        mutating func popToMark() throws -> [Value] {
            guard let mark = stack.lastIndex(where: { if case .mark = $0.value { true } else { false } }) else {
                throw fail("no mark on the stack at offset \(position)")
            }
            let items = stack[(mark + 1)...]
            poppedDepth = max(poppedDepth, items.map(\.depth).max() ?? 0)
            stack.removeSubrange(mark...)
            return items.map(\.value)
        }

        mutating func put(_ index: Int) throws {
            guard let top = stack.last else { throw fail("memoizes an empty stack") }
            guard index >= 0, index < TorchPickle.maximumMemo else { throw fail("memo index \(index) out of range") }
            memo[index] = top
        }

        mutating func get(_ index: Int) throws {
            guard let slot = memo[index] else { throw fail("reads memo \(index), which was never stored") }
            try push(slot)
        }

        mutating func global(_ module: String, _ name: String) throws {
            let qualified = "\(module).\(name)"
            if TorchPickle.knownGlobals.contains(qualified) || TorchPickle.storageTypes[qualified] != nil {
                try push(.global(qualified))
            } else {
                throw fail("it refers to '\(qualified)'; Ember reads only plain tensors, parameters and ordered dictionaries")
            }
        }

        /// Adds key-value pairs (or items) to the collection below them.
        /// The collection nests one level deeper than its deepest item, and no deeper than it already
        /// did: adding items one at a time (`APPEND`, `SETITEM`) to a flat dictionary keeps it flat.
        mutating func extend(_ items: [Value]) throws {
            let itemDepth = items.isEmpty ? 0 : poppedDepth + 1
            guard let slot = stack.popLast() else { throw fail("pops an empty stack at offset \(position)") }
            let depth = max(slot.depth, itemDepth)
            switch slot.value {
            case .dict(var pairs):
                guard items.count % 2 == 0 else { throw fail("odd number of dictionary items") }
                for i in stride(from: 0, to: items.count, by: 2) { pairs.append((items[i], items[i + 1])) }
                try push((.dict(pairs), depth))
            case .list(let values): try push((.list(values + items), depth))
            default: throw fail("adds items to something that is not a dictionary or list")
            }
        }

        // MARK: Running

        mutating func run() throws -> Value {
            while true {
                let opcode = try take(1).first ?? 0
                poppedDepth = 0
                switch opcode {
                case 0x80: _ = try take(1)  // PROTO
                case 0x95: _ = try take(8)  // FRAME: a hint of the next frame's size
                case 0x2E:  // STOP
                    let result = try pop()
                    return result
                case 0x28: try push(.mark)  // MARK
                case 0x4E: try push(.none)  // NONE
                case 0x88: try push(.bool(true))  // NEWTRUE
                case 0x89: try push(.bool(false))  // NEWFALSE
                case 0x4B: try push(.int(Int(try unsigned(1))))  // BININT1
                case 0x4D: try push(.int(Int(try unsigned(2))))  // BININT2
                case 0x4A: try push(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
                case 0x8A:  // LONG1: a little-endian two's complement integer of n bytes
                    let n = try length(1)
                    guard n <= 8 else { throw fail("an integer of \(n) bytes") }
                    let raw = try take(n)
                    var v: UInt64 = raw.reversed().reduce(0) { $0 << 8 | UInt64($1) }
                    if n > 0, n < 8, let last = raw.last, last & 0x80 != 0 { v |= ~0 << UInt64(8 * n) }
                    try push(.int(Int(Int64(bitPattern: v))))
                case 0x47: try push(.float(Double(bitPattern: try take(8).reduce(0) { $0 << 8 | UInt64($1) })))  // BINFLOAT
                case 0x8C: try push(.string(try text(try length(1))))  // SHORT_BINUNICODE
                case 0x58: try push(.string(try text(try length(4))))  // BINUNICODE
                case 0x8D: try push(.string(try text(try length(8))))  // BINUNICODE8
                case 0x43: try push(.bytes(Array(try take(try length(1)))))  // SHORT_BINBYTES
                case 0x42: try push(.bytes(Array(try take(try length(4)))))  // BINBYTES
                case 0x7D: try push(.dict([]))  // EMPTY_DICT
                case 0x5D: try push(.list([]))  // EMPTY_LIST
                case 0x29: try push(.tuple([]))  // EMPTY_TUPLE
                case 0x74: try push(.tuple(try popToMark()), nesting: true)  // TUPLE
                case 0x85: try push(.tuple([try pop()]), nesting: true)  // TUPLE1
                case 0x86:  // TUPLE2
                    let b = try pop(), a = try pop()
                    try push(.tuple([a, b]), nesting: true)
                case 0x87:  // TUPLE3
                    let c = try pop(), b = try pop(), a = try pop()
                    try push(.tuple([a, b, c]), nesting: true)
                case 0x71: try put(Int(try unsigned(1)))  // BINPUT
                case 0x72: try put(Int(try unsigned(4)))  // LONG_BINPUT
                case 0x94: try put(memo.count)  // MEMOIZE
                case 0x68: try get(Int(try unsigned(1)))  // BINGET
                case 0x6A: try get(Int(try unsigned(4)))  // LONG_BINGET
                case 0x63:  // GLOBAL: "module\nname\n"
                    let module = try line()
                    try global(module, try line())
                case 0x93:  // STACK_GLOBAL
                    guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                        throw fail("STACK_GLOBAL expects two strings")
                    }
                    try global(module, name)
                case 0x73:  // SETITEM
                    let value = try pop(), key = try pop()
                    try extend([key, value])
                case 0x75: try extend(try popToMark())  // SETITEMS
                case 0x61: try extend([try pop()])  // APPEND
                case 0x65: try extend(try popToMark())  // APPENDS
                case 0x51: try push(try persistent(try pop()), nesting: true)  // BINPERSID
                case 0x52:  // REDUCE
                    let args = try pop(), callable = try pop()
                    try push(try call(callable, args), nesting: true)
                default:
                    throw fail(String(format: "opcode 0x%02x at offset %d is not one torch.save writes for tensors", opcode, position - 1))
                }
            }
        }

        /// `('storage', torch.FloatStorage, '0', 'cpu', 12)`: storage file `0`, 12 floats.
        func persistent(_ id: Value) throws -> Value {
            guard case .tuple(let parts) = id, parts.count == 5, case .string("storage") = parts[0],
                case .global(let type) = parts[1], case .string(let key) = parts[2], case .int(let count) = parts[4]
            else { throw fail("a persistent id that is not a storage reference") }
            guard let dtype = TorchPickle.storageTypes[type] else { throw fail("storage type '\(type)' is not supported") }
            guard count >= 0, !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw fail("storage '\(key)' of \(count) elements is not a valid storage reference")
            }
            return .storage(Storage(dtype: dtype, key: key, count: count))
        }

        func call(_ callable: Value, _ args: Value) throws -> Value {
            guard case .global(let name) = callable, case .tuple(let a) = args else {
                throw fail("calls something that is not a known function")
            }
            switch name {
            case "collections.OrderedDict":
                return .dict([])
            case "torch._utils._rebuild_tensor_v2":
                guard a.count >= 4, case .storage(let storage) = a[0], case .int(let offset) = a[1],
                    let sizes = ints(a[2]), let strides = ints(a[3]), sizes.count == strides.count
                else { throw fail("_rebuild_tensor_v2 has arguments Ember does not recognize") }
                return .tensor(TensorReference(storage: storage, offset: offset, sizes: sizes, strides: strides))
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
                guard let data = a.first, case .tensor = data else { throw fail("\(name) of something that is not a tensor") }
                return data
            default:
                throw fail("calls '\(name)'")
            }
        }

        func ints(_ value: Value) -> [Int]? {
            guard case .tuple(let items) = value else { return nil }
            var result: [Int] = []
            for item in items {
                guard case .int(let v) = item else { return nil }
                result.append(v)
            }
            return result
        }
    }
}
