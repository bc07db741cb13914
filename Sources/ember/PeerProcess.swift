import EmberCPU
import EmberIR
import Foundation

/// A peer (ONNX Runtime, PyTorch) in a Python process of its own, holding its model loaded and
/// warm so that `ember bench` can time it by turns with Ember: `time(_:)` as often as needed, then
/// `finish()` for its outputs and peak memory. The process's messages go to this one's stderr.
final class PeerProcess {
    struct Request: Encodable {
        var peer: String
        var model: String
        var inputs: [String: String]
        var input_order: [String]
        var output_order: [String]
        var threads: Int
        var warmup: Int
        var scratch: String
    }

    struct Ready: Decodable { var ready: Bool }
    struct Times: Decodable { var ms: [Double] }
    struct Finished: Decodable {
        var outputs: [String: String]
        var peak_mb: Double
    }

    let peer: String
    private let process = Process()
    private let commands = Pipe(), answers = Pipe()
    private var unread = Data()
    private let scratch: URL

    /// Starts the peer on `inputs` and waits until it has loaded `model` and made `warmup` runs.
    init(peer: String, model: String, graph: Graph, inputs: [String: Tensor], warmup: Int, python: String) throws {
        self.peer = peer
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ember-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var files: [String: String] = [:]
        for (index, (name, tensor)) in inputs.sorted(by: { $0.key < $1.key }).enumerated() {
            let url = scratch.appendingPathComponent("input-\(index).npy")
            try tensor.npyData().write(to: url)
            files[name] = url.path
        }
        let request = Request(
            peer: peer, model: URL(fileURLWithPath: model).path, inputs: files,
            input_order: graph.inputs.map(graph.name(of:)), output_order: graph.outputs.map(graph.name(of:)),
            threads: Parallel.threadCount, warmup: warmup, scratch: scratch.path)

        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", PeerScript.source]
        process.standardInput = commands
        process.standardOutput = answers
        do {
            try process.run()
        } catch {
            throw EmberError(.io, "cannot start '\(python)' to run \(peer): \(error.localizedDescription)")
        }
        try send(request)
        _ = try receive(Ready.self)
    }

    deinit {
        try? commands.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: scratch)
    }

    /// The milliseconds of each of `iterations` timed runs, after one untimed run.
    func time(_ iterations: Int) throws -> [Double] {
        try send(["time": iterations])
        return try receive(Times.self).ms
    }

    /// The peer's outputs and the peak resident memory of its process; it exits after answering.
    func finish() throws -> (outputs: [String: Tensor], peakMB: Double) {
        try send(["finish": true])
        let finished = try receive(Finished.self)
        var outputs: [String: Tensor] = [:]
        for (name, path) in finished.outputs { outputs[name] = try Tensor(npyAt: URL(fileURLWithPath: path)) }
        return (outputs, finished.peak_mb)
    }

    private func send(_ message: some Encodable) throws {
        var line = try JSONEncoder().encode(message)
        line.append(UInt8(ascii: "\n"))
        do {
            try commands.fileHandleForWriting.write(contentsOf: line)
        } catch {
            throw exited()
        }
    }

    /// The next answer: the next stdout line that starts with `PeerScript.prefix`. Other lines are
    /// the libraries' own and go to stderr.
    private func receive<Answer: Decodable>(_: Answer.Type) throws -> Answer {
        while true {
            guard let line = nextLine() else { throw exited() }
            guard line.starts(with: PeerScript.prefix.utf8) else {
                FileHandle.standardError.write(line + Data("\n".utf8))
                continue
            }
            do {
                return try JSONDecoder().decode(Answer.self, from: line.dropFirst(PeerScript.prefix.utf8.count))
            } catch {
                throw EmberError(.io, "\(peer) answered what ember bench cannot read: \(String(decoding: line, as: UTF8.self))")
            }
        }
    }

    private func nextLine() -> Data? {
        while true {
            if let end = unread.firstIndex(of: UInt8(ascii: "\n")) {
                let line = unread[unread.startIndex..<end]
                unread = unread[(end + 1)...]
                return Data(line)
            }
            let more = answers.fileHandleForReading.availableData
            if more.isEmpty { return nil }
            unread.append(more)
        }
    }

    private func exited() -> EmberError {
        process.waitUntilExit()
        return EmberError(.io, "\(peer) stopped (exit \(process.terminationStatus)) before it answered; its messages are above")
    }
}
