import ArgumentParser
import EmberCPU
import EmberIR
import EmberRuntime
import Foundation

/// `ember bench MODEL_OR_ENGINE --against onnxruntime|torch|reference`: times Ember and a peer on
/// the same inputs in one run and prints a table with the largest output difference.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a model on Ember and on a peer (ONNX Runtime, PyTorch or Ember's reference backend) side by side.")

    @Argument(help: "The model (.onnx, .pt2, Ember text IR) or an engine file.")
    var model: String

    @Option(name: .long, help: "The size of every symbolic leading (batch) dim. Repeatable: one table row per batch.")
    var batch: [Int] = [1]

    @Option(name: .long, parsing: .singleValue, help: "The size of a symbolic dim as SYMBOL=SIZE (a sequence length, say). Repeatable.")
    var dim: [String] = []

    @Option(name: .long, help: "The peer to compare with: onnxruntime, torch, reference or none.")
    var against: Peer = .onnxruntime

    @Option(name: .long, help: "The model the peer runs, when MODEL is an engine file.")
    var peerModel: String?

    @Option(name: .long, help: "Timed runs per engine; the table shows their median.")
    var iterations: Int = 20

    @Option(name: .long, help: "Untimed runs before timing.")
    var warmup: Int = 3

    @Option(name: .long, help: "The Python interpreter that runs the peer.")
    var python: String = ProcessInfo.processInfo.environment["EMBER_PYTHON"] ?? "python3"

    @Flag(name: .long, help: "Also print where Ember's time goes: the slowest steps and the time per kernel provider.")
    var profile = false

    @OptionGroup var backend: BackendOptions
    @OptionGroup var optimization: OptimizationOptions
    @OptionGroup var rebuild: RebuildOptions

    enum Peer: String, ExpressibleByArgument, CaseIterable {
        case onnxruntime, torch, reference, none
    }

    func validate() throws {
        guard iterations > 0, warmup >= 0 else { throw ValidationError("--iterations must be positive and --warmup not negative") }
        guard batch.allSatisfy({ $0 > 0 }) else { throw ValidationError("--batch must be positive") }
        for spec in dim where Self.parseDim(spec) == nil {
            throw ValidationError("--dim '\(spec)' is not SYMBOL=SIZE")
        }
    }

    static func parseDim(_ spec: String) -> (String, Int)? {
        let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let size = Int(parts[1]), size > 0 else { return nil }
        return (parts[0], size)
    }

    func run() throws {
        // A peer that dies must not take ember with it: writing to its pipe then fails instead.
        signal(SIGPIPE, SIG_IGN)
        try Ember.reportingErrors {
            progress("compiling \(model)")
            let clock = ContinuousClock()
            let start = clock.now
            // The imported model is released once the engine is built: only the engine stays.
            let (engine, peerModel) = try { () throws -> (Engine, String?) in
                let file = try ModelFile.open(model)
                // Flags that name things are checked against the model before the compile.
                let peerModel = try peerModelPath(file)
                var engine = try file.engine(backend, optimization: optimization, check: checkDimNames)
                engine.allowsRebuild = rebuild.allowRebuild
                return (engine, peerModel)
            }()
            progress("built a \(engine.backend.rawValue) engine in \(Self.format(milliseconds: clock.now - start)) ms")
            var rows: [Row] = []
            for size in batch {
                rows.append(try measure(engine, batch: size, peerModel: peerModel))
            }
            print(Self.table(rows, engine: engine, peer: against))
        }
    }

    /// One table row: a batch size's timings and differences.
    struct Row {
        var batch: Int
        var emberMs: Double
        var peerMs: Double?
        var maxDifference: Double?
        var maxRelative: Double?
        var peerPeakMB: Double?
        /// The share of CPU time the hypervisor stole while each side was timed.
        var emberSteal: Double?, peerSteal: Double?
    }

    private func peerModelPath(_ file: ModelFile) throws -> String? {
        switch against {
        case .none, .reference: return nil
        case .onnxruntime, .torch:
            if case .engine = file {
                guard let peerModel else {
                    throw EmberError(.invalidArgument, "\(against.rawValue) cannot run an Ember engine; give the source model with --peer-model")
                }
                return peerModel
            }
            return model
        }
    }

    private func measure(_ engine: Engine, batch: Int, peerModel: String?) throws -> Row {
        let inputs = try randomInputs(engine.graph, batch: batch)
        // Ember's runs: `warmup` untimed ones (at least one), then `count` timed; every timed run's
        // ms and the outputs.
        let memory = engine.cudaProgram == nil ? try CallerMemory(engine, inputs) : nil
        let timeEmber = { (warmup: Int, count: Int) throws -> ([Double], [(name: String, tensor: Tensor)]) in
            if let cuda = engine.cudaProgram {
                // GPU callers keep their tensors on the device: time runs on inputs already there.
                return try cuda.deviceMilliseconds(inputs, warmup: warmup, iterations: count)
            }
            guard let memory else { throw EmberError(.internalError, "no caller memory for a host engine") }
            // Host callers hand Ember their own buffers: time runs on inputs and outputs allocated once.
            let (times, _) = try Self.time(warmup: warmup, iterations: count) { try memory.run() }
            return (times, try memory.results())
        }
        var peer: PeerProcess?
        if against == .onnxruntime || against == .torch {
            progress("batch \(batch): loading the model into \(against.rawValue)")
            peer = try PeerProcess(
                peer: against.rawValue, model: peerModel!, graph: engine.graph, inputs: inputs, warmup: warmup, python: python)
        }
        progress("batch \(batch): warming up ember (\(engine.backend.rawValue))")
        var (_, emberOutputs) = try timeEmber(warmup, 0)

        // With a peer process, the two take turns, each starting every other turn, so that a
        // machine whose speed drifts (other guests on its host, say) slows both sides alike.
        let turns = peer == nil ? [iterations] : Self.turns(iterations)
        var emberTimes: [Double] = [], peerTimes: [Double] = []
        var emberStolen = StolenCPU.Tally(), peerStolen = StolenCPU.Tally()
        for (index, count) in turns.enumerated() {
            progress("batch \(batch): turn \(index + 1) of \(turns.count), \(count) runs each")
            var sides: [() throws -> Void] = [{
                let (ms, outputs) = try emberStolen.during { try timeEmber(1, count) }
                (emberTimes, emberOutputs) = (emberTimes + ms, outputs)
            }]
            if let peer { sides.append { peerTimes += try peerStolen.during { try peer.time(count) } } }
            for side in index % 2 == 0 ? sides : sides.reversed() {
                try side()
                // Both sides' worker threads spin a while after a run: let them settle first.
                if peer != nil { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
        var row = Row(batch: batch, emberMs: Self.median(emberTimes), emberSteal: emberStolen.share)
        if profile, let cuda = engine.cudaProgram {
            let steps = try cuda.profile(inputs, iterations: min(iterations, 20))
            print(Self.cudaProfileTable(steps, batch: batch))
        }
        if profile, let program = engine.program {
            let steps = StepProfile()
            for _ in 0..<iterations { _ = try engine.run(inputs, profile: steps) }
            print(Self.profileTable(steps.report(program), runs: iterations, batch: batch))
        }
        let peerOutputs: [String: Tensor]
        switch against {
        case .none:
            return row
        case .reference:
            progress("batch \(batch): timing the reference backend")
            let reference = try Engine(graph: try engine.completeGraph(), backend: .reference)
            let (times, outputs) = try Self.time(warmup: 1, iterations: max(1, iterations / 4)) { try reference.run(inputs) }
            row.peerMs = Self.median(times)
            peerOutputs = Dictionary(uniqueKeysWithValues: outputs.map { ($0.name, $0.tensor) })
        case .onnxruntime, .torch:
            let (outputs, peakMB) = try peer!.finish()
            row.peerMs = Self.median(peerTimes)
            row.peerPeakMB = peakMB
            row.peerSteal = peerStolen.share
            peerOutputs = outputs
        }
        var worst = 0.0, worstRelative = 0.0
        for (name, tensor) in emberOutputs {
            guard let other = peerOutputs[name] ?? (emberOutputs.count == 1 ? peerOutputs.values.first : nil) else {
                throw EmberError(.internalError, "the peer gave no output named '\(name)'")
            }
            guard other.shape == tensor.shape else {
                throw EmberError(.shapeMismatch, "output '\(name)': Ember gave \(tensor.shape), the peer \(other.shape)")
            }
            let (a, b) = (tensor.doubles(), other.cast(to: tensor.dtype).doubles())
            let scale = max(b.map(abs).max() ?? 0, 1e-30)
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
            worstRelative = max(worstRelative, worst / scale)
        }
        row.maxDifference = worst
        row.maxRelative = worstRelative
        return row
    }

    /// Refuses a `--dim` that names no symbolic dim of `graph`'s inputs, naming those there are.
    func checkDimNames(_ graph: Graph) throws {
        var symbols: [String] = []
        for id in graph.inputs {
            for case .symbol(let s) in graph.type(of: id).shape ?? [] where !symbols.contains(s) { symbols.append(s) }
        }
        for name in Set(dim.compactMap { Self.parseDim($0)?.0 }).sorted() where !symbols.contains(name) {
            throw EmberError(
                .invalidArgument,
                "--dim '\(name)' is not a symbolic dim of the model's inputs; "
                    + (symbols.isEmpty ? "they have none" : "they are: \(symbols.joined(separator: ", "))"))
        }
    }

    /// Random inputs of the engine's input types: symbolic dims from --dim, else the batch size.
    private func randomInputs(_ graph: Graph, batch: Int) throws -> [String: Tensor] {
        let sizes = Dictionary(dim.compactMap(Self.parseDim), uniquingKeysWith: { $1 })
        var inputs: [String: Tensor] = [:]
        var inputBytes = 0
        for (position, id) in graph.inputs.enumerated() {
            let name = graph.name(of: id), type = graph.type(of: id)
            guard let dims = type.shape else { throw EmberError(.invalidArgument, "input '\(name)' has no known rank; bench needs shapes") }
            let shape: [Int] = try dims.enumerated().map { axis, dim -> Int in
                switch dim {
                case .known(let size): return size
                case .symbol(let symbol):
                    if let size = sizes[symbol] { return size }
                    if axis == 0 { return batch }
                    throw EmberError(.invalidArgument, "input '\(name)' dim \(axis) is '\(symbol)'; give its size with --dim \(symbol)=SIZE")
                case .unknown:
                    if axis == 0 { return batch }
                    throw EmberError(.invalidArgument, "input '\(name)' dim \(axis) is unknown; bench cannot choose its size")
                }
            }
            // Integer inputs are token ids or masks: small non-negative values are valid for both.
            // Random tensors are drawn as doubles first, then stored in their dtype.
            let what = "input '\(name)' (\(type.dtype)\(shape))"
            let bytes = try TensorSize.byteCount(shape, type.dtype, of: what) + TensorSize.byteCount(shape, .f64, of: what)
            inputBytes += bytes
            try MemoryLimit.check(inputBytes, for: "the random inputs up to \(what)")
            let range: ClosedRange<Double> = type.dtype.isFloatingPoint ? -1...1 : 0...1
            inputs[name] = Tensor.random(type.dtype, shape, in: range, seed: UInt64(position + 1))
        }
        return inputs
    }

    /// `warmup` untimed runs (at least one), then `iterations` timed ones: every timed run's
    /// milliseconds and the last result.
    static func time<T>(warmup: Int, iterations: Int, _ body: () throws -> T) throws -> ([Double], T) {
        var last = try body()
        for _ in 1..<max(warmup, 1) { last = try body() }
        let clock = ContinuousClock()
        var samples: [Double] = []
        for _ in 0..<iterations {
            let start = clock.now
            last = try body()
            samples.append(milliseconds(clock.now - start))
        }
        return (samples, last)
    }

    /// `iterations` split into the turns Ember and a peer take: six at most, none empty.
    static func turns(_ iterations: Int) -> [Int] {
        let count = min(iterations, 6)
        return (0..<count).map { iterations / count + ($0 < iterations % count ? 1 : 0) }
    }

    static func median(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.sorted()[values.count / 2]
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
    }

    static func format(milliseconds d: Duration) -> String { String(format: "%.1f", milliseconds(d)) }

    static func table(_ rows: [Row], engine: Engine, peer: Peer) -> String {
        let emberPeak = Double(PeakMemory.residentBytes) / 1_048_576
        let peerName = peer == .reference ? "reference" : peer.rawValue
        var out = engine.backend == .cuda
            ? "ember times runs with inputs and outputs on the GPU (\(engine.precision.rawValue))\n"
            : "threads: \(Parallel.threadCount)\n"
        if peer == .none {
            out += "| batch | ember \(engine.backend.rawValue) ms |\n| --- | --- |\n"
            for r in rows { out += "| \(r.batch) | \(String(format: "%.2f", r.emberMs)) |\n" }
            return out
        }
        out += "| batch | ember \(engine.backend.rawValue) ms | \(peerName) ms | speedup | max abs diff | max rel diff |\n"
        out += "| --- | --- | --- | --- | --- | --- |\n"
        for r in rows {
            let peerMs = r.peerMs ?? .nan
            out += "| \(r.batch) | \(String(format: "%.2f", r.emberMs)) | \(String(format: "%.2f", peerMs)) | "
            out += "\(String(format: "%.2fx", peerMs / r.emberMs)) | \(String(format: "%.2e", r.maxDifference ?? .nan)) | "
            out += "\(String(format: "%.2e", r.maxRelative ?? .nan)) |\n"
        }
        out += "peak memory: ember \(String(format: "%.0f", emberPeak)) MB"
        if let peak = rows.compactMap(\.peerPeakMB).max() { out += ", \(peerName) \(String(format: "%.0f", peak)) MB" }
        return out + "\n" + stealNote(rows, peer: peerName)
    }

    /// A line on CPU time the hypervisor took while timing, when it took any worth noting: above
    /// a percent or so, the times say more about the host's other guests than about the engines.
    static func stealNote(_ rows: [Row], peer: String) -> String {
        let shares = rows.flatMap { [$0.emberSteal, $0.peerSteal] }.compactMap { $0 }
        guard let worst = shares.max(), worst >= 0.005 else { return "" }
        let percent = { (share: Double?) in share.map { String(format: "%.1f%%", $0 * 100) } ?? "?" }
        let parts = rows.map { "batch \($0.batch): ember \(percent($0.emberSteal)), \(peer) \(percent($0.peerSteal))" }
        return "cpu stolen by the hypervisor while timing: \(parts.joined(separator: "; "))\n"
    }

    static func profileTable(_ steps: [(location: String, provider: String, op: String, time: Duration)], runs: Int, batch: Int) -> String {
        let ms = { (d: Duration) in milliseconds(d) / Double(runs) }
        var byProvider: [String: Double] = [:]
        for step in steps { byProvider[step.provider, default: 0] += ms(step.time) }
        var out = "batch \(batch), ms per run by kernels: "
        out += byProvider.sorted { $0.value > $1.value }.map { "\($0.key) \(String(format: "%.2f", $0.value))" }.joined(separator: ", ")
        out += "\nby op:\n"
        var byOp: [String: (ms: Double, count: Int)] = [:]
        for step in steps {
            let key = "\(step.provider) \(step.op)"
            let sum = byOp[key, default: (0, 0)]
            byOp[key] = (sum.ms + ms(step.time), sum.count + 1)
        }
        for (op, t) in byOp.sorted(by: { $0.value.ms > $1.value.ms }).prefix(12) {
            out += "  \(String(format: "%8.3f", t.ms)) ms  \(String(format: "%4d", t.count))x  \(op)\n"
        }
        out += "slowest steps:\n"
        for step in steps.prefix(15) {
            out += "  \(String(format: "%8.3f", ms(step.time))) ms  \(step.provider.padding(toLength: 10, withPad: " ", startingAt: 0))  \(step.location)\n"
        }
        return out
    }

    /// Device time by kind of step, then the slowest steps.
    static func cudaProfileTable(_ steps: [(step: String, kind: String, ms: Double)], batch: Int) -> String {
        var byKind: [String: (ms: Double, count: Int)] = [:]
        for step in steps {
            let sum = byKind[step.kind, default: (0, 0)]
            byKind[step.kind] = (sum.ms + step.ms, sum.count + 1)
        }
        let total = steps.reduce(0) { $0 + $1.ms }
        var out = "batch \(batch): \(steps.count) steps, \(String(format: "%.3f", total)) ms of device time run one by one\n"
        for (kind, t) in byKind.sorted(by: { $0.value.ms > $1.value.ms }) {
            out += "  \(String(format: "%8.3f", t.ms)) ms  \(String(format: "%4d", t.count))x  \(kind)\n"
        }
        out += "slowest steps:\n"
        for step in steps.sorted(by: { $0.ms > $1.ms }).prefix(20) {
            out += "  \(String(format: "%8.4f", step.ms)) ms  \(step.step)\n"
        }
        return out
    }

    private func progress(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}

/// The peak resident memory of this process image: `VmHWM` in /proc/self/status. (`ru_maxrss`
/// would do, but Linux carries it across exec, so a process started by a large one inherits its
/// parent's peak.)
enum PeakMemory {
    static var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }
}

/// CPU time the hypervisor gave to other guests while this machine's threads were ready to run:
/// `steal` in the first line of /proc/stat. On a shared virtual machine it is what makes one
/// timing differ from the next, so `ember bench` reports it beside the times.
struct StolenCPU {
    let steal: Int, total: Int

    /// The machine's counters now (in clock ticks, over all CPUs); nil where /proc/stat is missing.
    static func now() -> StolenCPU? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { Int($0) }
        guard fields.count == 8 else { return nil }
        return StolenCPU(steal: fields[7], total: fields.reduce(0, +))
    }

    /// Stolen and total time summed over the spans one side was timed in.
    struct Tally {
        var steal = 0, total = 0

        /// Runs `body`, adding the machine's stolen and total time while it ran.
        mutating func during<T>(_ body: () throws -> T) rethrows -> T {
            let start = now()
            defer {
                if let start, let end = now() {
                    (steal, total) = (steal + end.steal - start.steal, total + end.total - start.total)
                }
            }
            return try body()
        }

        var share: Double? { total > 0 ? Double(steal) / Double(total) : nil }
    }
}
