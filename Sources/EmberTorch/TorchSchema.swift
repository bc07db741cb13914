import Foundation

/// The parts of torch.export's serialized `ExportedProgram` (`torch/_export/serde/schema.py`)
/// that Ember reads. Unions are JSON objects with a single key naming the member; members Ember
/// does not know decode as `.other` and are refused where they are used, with their name.
enum TorchSchema {
    struct ExportedProgram: Decodable {
        var graph_module: GraphModule
        var schema_version: SchemaVersion
        var range_constraints: [String: RangeConstraint]?
        var torch_version: String?
        var opset_version: [String: Int]?
    }

    struct SchemaVersion: Decodable {
        var major: Int
        var minor: Int
    }

    struct RangeConstraint: Decodable {
        var min_val: Int?
        var max_val: Int?
    }

    struct GraphModule: Decodable {
        var graph: Graph
        var signature: GraphSignature
    }

    struct Graph: Decodable {
        var inputs: [Argument]
        var outputs: [Argument]
        var nodes: [Node]
        var tensor_values: [String: TensorMeta]
        var sym_int_values: [String: SymInt]?
    }

    struct Node: Decodable {
        var target: String
        var inputs: [NamedArgument]
        var outputs: [Argument]
        var name: String?
    }

    struct NamedArgument: Decodable {
        var name: String
        var arg: Argument
        /// 1 positional, 2 keyword (schema 8.x); absent in older archives.
        var kind: Int?
    }

    struct TensorMeta: Decodable {
        var dtype: Int
        var sizes: [SymInt]
        var strides: [SymInt]
        var storage_offset: SymInt?
        var layout: Int?
    }

    struct SymExpr: Decodable {
        var expr_str: String
    }

    enum SymInt: Decodable {
        case int(Int)
        case expr(String)
        case other(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            guard let key = c.allKeys.first else { throw Self.empty(c) }
            switch key.stringValue {
            case "as_int": self = .int(try c.decode(Int.self, forKey: key))
            case "as_expr": self = .expr(try c.decode(SymExpr.self, forKey: key).expr_str)
            default: self = .other(key.stringValue)
            }
        }

        static func empty(_ c: KeyedDecodingContainer<AnyKey>) -> DecodingError {
            .dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "empty union"))
        }
    }

    struct Name: Decodable {
        var name: String
    }

    /// A symbolic int, bool or float argument: a value's name, or a literal.
    enum SymArgument: Decodable {
        case name(String)
        case int(Int)
        case float(Double)
        case bool(Bool)
        case other(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            guard let key = c.allKeys.first else { throw SymInt.empty(c) }
            switch key.stringValue {
            case "as_name": self = .name(try c.decode(String.self, forKey: key))
            case "as_int": self = .int(try c.decode(Int.self, forKey: key))
            case "as_float": self = .float(try c.decode(FloatValue.self, forKey: key).value)
            case "as_bool": self = .bool(try c.decode(Bool.self, forKey: key))
            default: self = .other(key.stringValue)
            }
        }
    }

    enum OptionalTensor: Decodable {
        case tensor(String)
        case none

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            guard let key = c.allKeys.first else { throw SymInt.empty(c) }
            self = key.stringValue == "as_tensor" ? .tensor(try c.decode(Name.self, forKey: key).name) : .none
        }
    }

    /// An argument of a node, a graph input or output.
    enum Argument: Decodable {
        case none
        case tensor(String)
        case tensors([String])
        case optionalTensors([OptionalTensor])
        case int(Int)
        case ints([Int])
        case float(Double)
        case floats([Double])
        case string(String)
        case strings([String])
        case bool(Bool)
        case bools([Bool])
        case symInt(SymArgument)
        case symInts([SymArgument])
        case symFloat(SymArgument)
        case symFloats([SymArgument])
        case symBool(SymArgument)
        case scalarType(Int)
        case memoryFormat(Int)
        case layout(Int)
        case device(String)
        case other(String)

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            guard let key = c.allKeys.first else { throw SymInt.empty(c) }
            switch key.stringValue {
            case "as_none": self = .none
            case "as_tensor": self = .tensor(try c.decode(Name.self, forKey: key).name)
            case "as_tensors": self = .tensors(try c.decode([Name].self, forKey: key).map(\.name))
            case "as_optional_tensors": self = .optionalTensors(try c.decode([OptionalTensor].self, forKey: key))
            case "as_int": self = .int(try c.decode(Int.self, forKey: key))
            case "as_ints": self = .ints(try c.decode([Int].self, forKey: key))
            case "as_float": self = .float(try Self.decodeFloat(c, key))
            case "as_floats": self = .floats(try c.decode([FloatValue].self, forKey: key).map(\.value))
            case "as_string": self = .string(try c.decode(String.self, forKey: key))
            case "as_strings": self = .strings(try c.decode([String].self, forKey: key))
            case "as_bool": self = .bool(try c.decode(Bool.self, forKey: key))
            case "as_bools": self = .bools(try c.decode([Bool].self, forKey: key))
            case "as_sym_int": self = .symInt(try c.decode(SymArgument.self, forKey: key))
            case "as_sym_ints": self = .symInts(try c.decode([SymArgument].self, forKey: key))
            case "as_sym_float": self = .symFloat(try c.decode(SymArgument.self, forKey: key))
            case "as_sym_floats": self = .symFloats(try c.decode([SymArgument].self, forKey: key))
            case "as_sym_bool": self = .symBool(try c.decode(SymArgument.self, forKey: key))
            case "as_scalar_type": self = .scalarType(try c.decode(Int.self, forKey: key))
            case "as_memory_format": self = .memoryFormat(try c.decode(Int.self, forKey: key))
            case "as_layout": self = .layout(try c.decode(Int.self, forKey: key))
            case "as_device": self = .device((try? c.decode(Device.self, forKey: key).type) ?? "?")
            default: self = .other(key.stringValue)
            }
        }

        /// Floats are written as numbers, or as the strings `inf`, `-inf` and `nan`.
        static func decodeFloat(_ c: KeyedDecodingContainer<AnyKey>, _ key: AnyKey) throws -> Double {
            try c.decode(FloatValue.self, forKey: key).value
        }
    }

    /// A float: a number, or one of the strings `inf`, `-inf` and `nan`.
    struct FloatValue: Decodable {
        var value: Double

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Double.self) {
                value = v
                return
            }
            let text = try c.decode(String.self).lowercased()
            switch text {
            case "inf", "infinity", "+inf": value = .infinity
            case "-inf", "-infinity": value = -.infinity
            case "nan": value = .nan
            default: throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' is not a float")
            }
        }
    }

    struct Device: Decodable {
        var type: String
    }

    struct GraphSignature: Decodable {
        var input_specs: [InputSpec]
        var output_specs: [OutputSpec]
    }

    enum InputSpec: Decodable {
        case userInput(Argument)
        case parameter(name: String, target: String)
        case buffer(name: String, target: String)
        case tensorConstant(name: String, target: String)
        case constantInput(name: String, value: Argument)
        case other(String)

        private struct Target: Decodable {
            var arg: Name
            var parameter_name: String?
            var buffer_name: String?
            var tensor_constant_name: String?
        }
        private struct User: Decodable { var arg: Argument }
        private struct Constant: Decodable {
            var name: String
            var value: Argument
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            guard let key = c.allKeys.first else { throw SymInt.empty(c) }
            switch key.stringValue {
            case "user_input": self = .userInput(try c.decode(User.self, forKey: key).arg)
            case "parameter":
                let t = try c.decode(Target.self, forKey: key)
                self = .parameter(name: t.arg.name, target: t.parameter_name ?? "")
            case "buffer":
                let t = try c.decode(Target.self, forKey: key)
                self = .buffer(name: t.arg.name, target: t.buffer_name ?? "")
            case "tensor_constant":
                let t = try c.decode(Target.self, forKey: key)
                self = .tensorConstant(name: t.arg.name, target: t.tensor_constant_name ?? "")
            case "constant_input":
                let t = try c.decode(Constant.self, forKey: key)
                self = .constantInput(name: t.name, value: t.value)
            default: self = .other(key.stringValue)
            }
        }
    }

    enum OutputSpec: Decodable {
        case userOutput(Argument)
        case other(String)

        private struct User: Decodable { var arg: Argument }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            guard let key = c.allKeys.first else { throw SymInt.empty(c) }
            self = key.stringValue == "user_output" ? .userOutput(try c.decode(User.self, forKey: key).arg) : .other(key.stringValue)
        }
    }

    /// `data/weights/model_weights_config.json` and `data/constants/model_constants_config.json`.
    struct PayloadConfig: Decodable {
        var config: [String: PayloadMeta]
    }

    struct PayloadMeta: Decodable {
        var path_name: String
        var use_pickle: Bool?
        var tensor_meta: TensorMeta?
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
