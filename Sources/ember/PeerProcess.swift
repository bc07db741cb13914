import EmberCPU
import EmberIR
import Foundation

/// A peer (ONNX Runtime, PyTorch) timed in a Python process on the inputs Ember ran.
enum PeerProcess {
    struct Result {
        var ms: Double
        var peakMB: Double
        var outputs: [String: Tensor]
    }

    struct Request: Encodable {
        var peer: String
        var model: String
        var inputs: [String: String]
        var input_order: [String]
        var output_order: [String]
        var threads: Int
        var warmup: Int
        var iterations: Int
        var scratch: String
    }

    struct Reply: Decodable {
        var ms: Double
        var peak_mb: Double
        var outputs: [String: String]
    }

    static func run(
        peer: String, model: String, graph: Graph, inputs: [String: Tensor], warmup: Int, iterations: Int, python: String
    ) throws -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ember-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var files: [String: String] = [:]
        for (index, (name, tensor)) in inputs.sorted(by: { $0.key < $1.key }).enumerated() {
            let url = scratch.appendingPathComponent("input-\(index).npy")
            try tensor.npyData().write(to: url)
            files[name] = url.path
        }
        let request = Request(
            peer: peer, model: URL(fileURLWithPath: model).path, inputs: files,
            input_order: graph.inputs.map(graph.name(of:)), output_order: graph.outputs.map(graph.name(of:)),
            threads: Parallel.threadCount, warmup: warmup, iterations: iterations, scratch: scratch.path)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", PeerScript.source]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        do {
            try process.run()
        } catch {
            throw EmberError(.io, "cannot start '\(python)' to run \(peer): \(error.localizedDescription)")
        }
        stdin.fileHandleForWriting.write(try JSONEncoder().encode(request))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw EmberError(.io, "\(peer) failed (exit \(process.terminationStatus)); its messages are above")
        }
        guard let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last,
              let reply = try? JSONDecoder().decode(Reply.self, from: Data(line.utf8))
        else {
            throw EmberError(.io, "\(peer) printed no result")
        }
        var outputs: [String: Tensor] = [:]
        for (name, path) in reply.outputs { outputs[name] = try Tensor(npyAt: URL(fileURLWithPath: path)) }
        return Result(ms: reply.ms, peakMB: reply.peak_mb, outputs: outputs)
    }
}
