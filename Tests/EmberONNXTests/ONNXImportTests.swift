import EmberIR
@testable import EmberONNX
import EmberReference
import EmberTestSupport
import Foundation
import Testing

@Suite struct ONNXImportTests {
    func load(_ model: Onnx_ModelProto, directory: URL? = nil) throws -> ONNXModel {
        try ONNXModel(bytes: try model.serializedData(), directory: directory)
    }

    @Test func importsAndRunsWithSymbolicBatch() throws {
        let graph = try load(ONNXTestModels.small).importGraph()
        #expect(graph.type(of: graph.inputs[0]) == TensorType(.f32, ["batch", 4]))
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, ["batch", 4]))
        for batch in [1, 3] {
            let x = Tensor.random(.f32, [batch, 4], seed: UInt64(batch))
            let y = try ReferenceBackend().run(graph, inputs: ["x": x])[0].tensor
            let expected = x.floats().enumerated().map { i, v in
                max(v * [1, 2, 3, 4][i % 4] + [0.5, -0.5, 1, -1][i % 4], 0)
            }
            #expect(y == Tensor(shape: [batch, 4], floats: expected))
        }
    }

    @Test func listsEveryUnsupportedOpWithItsNodes() throws {
        let model = ONNXTestModels.model(
            [ONNXTestModels.node("FancyOp", ["x"], ["a"], name: "f1"), ONNXTestModels.node("Relu", ["a"], ["b"]),
             ONNXTestModels.node("FancyOp", ["b"], ["c"], name: "f2"), ONNXTestModels.node("OtherOp", ["c"], ["y"], name: "o")],
            inputs: [ONNXTestModels.valueInfo("x", .f32, [2])], outputs: ["y"])
        #expect {
            try load(model).importGraph()
        } throws: { error in
            let text = "\(error)"
            return text.contains("FancyOp (f1, f2)") && text.contains("OtherOp (o)")
        }
    }

    @Test func refusesOpsetsOutsideTheSupportedRange() throws {
        var model = ONNXTestModels.small
        model.opsetImport[0].version = 5
        #expect { try load(model) } throws: { "\($0)".contains("opset 5") }
        model.opsetImport[0].version = 9
        #expect { try load(model).importGraph() } throws: { "\($0)".contains("Relu-6 (opset 9") }
    }

    @Test func acceptsOlderOpsetsForOpsUnchangedSince() throws {
        var model = ONNXTestModels.model(
            [ONNXTestModels.node("Not", ["x"], ["y"])], inputs: [ONNXTestModels.valueInfo("x", .bool, [3])], outputs: ["y"])
        model.opsetImport[0].version = 7
        let graph = try load(model).importGraph()
        #expect(graph.nodes.map(\.op.name) == ["not"])
    }

    @Test func refusesInitializerWhoseBytesDoNotMatchItsShape() throws {
        var model = ONNXTestModels.small
        model.graph.initializer[0].dims = [1_000_000_000_000]
        #expect { try load(model).importGraph() } throws: { "\($0)".contains("initializer 'w'") }
    }

    @Test func readsExternalDataInsideTheModelFolderOnly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights: [Float] = [9, 9, 1, 2, 3, 4]
        try weights.withUnsafeBytes { Data($0) }.write(to: dir.appendingPathComponent("weights.bin"))

        func external(_ location: String, offset: Int = 8, length: Int? = 16) -> Onnx_ModelProto {
            var model = ONNXTestModels.small
            var w = model.graph.initializer[0]
            w.clearRawData()
            w.dataLocation = .external
            var entries = [("location", location), ("offset", "\(offset)")]
            if let length { entries.append(("length", "\(length)")) }
            w.externalData = entries.map { key, value in
                var e = Onnx_StringStringEntryProto()
                e.key = key
                e.value = value
                return e
            }
            model.graph.initializer[0] = w
            return model
        }
        let graph = try load(external("weights.bin"), directory: dir).importGraph()
        let w = graph.constants.first { graph.name(of: $0.key) == "w" }?.value
        #expect(w == Tensor(shape: [4], floats: [1, 2, 3, 4]))

        for bad in ["../weights.bin", "/etc/passwd", "sub/../../x"] {
            #expect { try load(external(bad), directory: dir).importGraph() } throws: { "\($0)".contains("model's folder") }
        }
        #expect { try load(external("weights.bin", offset: 16), directory: dir).importGraph() } throws: {
            "\($0)".contains("needs 16 from offset 16")
        }
        #expect { try load(external("missing.bin"), directory: dir).importGraph() } throws: { "\($0)".contains("missing.bin") }
    }

    /// A long chain imports in time linear in its length: one copy of the graph per node (a
    /// builder copied on each append) took minutes here, which the time limit turns into a failure.
    @Test(.timeLimit(.minutes(2))) func importsAHundredThousandNodeChain() throws {
        let n = 100_000
        let nodes = (0..<n).map { ONNXTestModels.node("Relu", ["v\($0)"], ["v\($0 + 1)"]) }
        let model = ONNXTestModels.model(nodes, inputs: [ONNXTestModels.valueInfo("v0", .f32, [1, 4])], outputs: ["v\(n)"])
        let graph = try load(model).importGraph()
        #expect(graph.nodes.count == n)
        #expect(graph.nodes.allSatisfy { $0.op.name == "relu" })
        #expect(graph.type(of: graph.outputs[0]) == TensorType(.f32, [1, 4]))
        #expect(graph.name(of: graph.outputs[0]) == "v\(n)")
    }
}
