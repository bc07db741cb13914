import EmberIR
@testable import EmberONNX
import Foundation

/// Small ONNX models built in Swift, for importer tests.
enum ONNXTestModels {
    static func valueInfo(_ name: String, _ type: DType, _ dims: [Dim]) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(type.onnxCode)
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            switch d {
            case .known(let v): dim.dimValue = Int64(v)
            case .symbol(let s): dim.dimParam = s
            case .unknown: break
            }
            return dim
        }
        tensor.shape = shape
        info.type.tensorType = tensor
        return info
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "") -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        return n
    }

    static func initializer(_ name: String, _ values: [Float], dims: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = Int32(DType.f32.onnxCode)
        t.dims = dims
        t.rawData = values.withUnsafeBytes { Data($0) }
        return t
    }

    static func model(_ nodes: [Onnx_NodeProto], inputs: [Onnx_ValueInfoProto], outputs: [String],
                      initializers: [Onnx_TensorProto] = [], opset: Int64 = 17) -> Onnx_ModelProto {
        var graph = Onnx_GraphProto()
        graph.name = "test"
        graph.node = nodes
        graph.input = inputs
        graph.output = outputs.map { valueInfo($0, .f32, []) }
        graph.initializer = initializers
        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.version = opset
        model.opsetImport = [opsetID]
        model.graph = graph
        return model
    }

    /// `y = relu(x * w + b)`, with a symbolic batch dim.
    static var small: Onnx_ModelProto {
        model(
            [node("Mul", ["x", "w"], ["xw"], name: "mul"), node("Add", ["xw", "b"], ["s"], name: "add"),
             node("Relu", ["s"], ["y"], name: "relu")],
            inputs: [valueInfo("x", .f32, ["batch", 4])], outputs: ["y"],
            initializers: [initializer("w", [1, 2, 3, 4], dims: [4]), initializer("b", [0.5, -0.5, 1, -1], dims: [4])])
    }
}
