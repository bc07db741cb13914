import ArgumentParser
import EmberIR
import EmberPasses

/// The optimizer's flags, shared by `compile`, `run` and `inspect`.
struct OptimizationOptions: ParsableArguments {
    @Option(
        name: .customShort("O", allowingJoined: true),
        help: "Optimization level: 0 runs no passes, 1 cleans up, 2 (the default) runs every pass.")
    var level: Int = 2

    @Option(name: .long, help: "Print the IR after the named pass, or after every pass with 'all', large constants by type alone. Repeatable.")
    var printIRAfter: [String] = []

    @Option(name: .long, help: "Skip the named pass. Repeatable.")
    var disablePass: [String] = []

    @Flag(name: .long, help: "Print the time each pass took and whether it changed the graph.")
    var passStats = false

    func validate() throws {
        guard OptimizationLevel(rawValue: level) != nil else {
            throw ValidationError("-O\(level) is not a level; use -O0, -O1 or -O2")
        }
        let known = Set(Pipeline.all.map(\.name))
        for name in printIRAfter + disablePass where name != "all" && !known.contains(name) {
            throw ValidationError(
                "unknown pass '\(name)'; the passes are: \(Pipeline.all.map(\.name).joined(separator: ", "))")
        }
    }

    /// Runs the pipeline on `graph`, printing what the flags ask for.
    func optimize(_ graph: inout Graph) throws {
        var manager = PassManager(Pipeline.passes(OptimizationLevel(rawValue: level) ?? .O2))
        manager.disabled = Set(disablePass)
        if printIRAfter.contains("all") {
            manager.printAfter = .all
        } else if !printIRAfter.isEmpty {
            manager.printAfter = .passes(Set(printIRAfter))
        }
        let statistics = try manager.run(&graph)
        if passStats { print(PassManager.format(statistics), terminator: "") }
    }
}
