import EmberIR
import Foundation

/// Runs a pipeline of passes, with the verifier, IR printing and statistics the command line offers.
public struct PassManager: Sendable {
    /// Which passes' output to print.
    public enum PrintSelection: Sendable, Equatable {
        case none
        case all
        case passes(Set<String>)

        func includes(_ name: String) -> Bool {
            switch self {
            case .none: false
            case .all: true
            case .passes(let names): names.contains(name)
            }
        }
    }

    /// What one pass did.
    public struct Statistic: Sendable {
        public var pass: String
        public var seconds: Double
        public var changed: Bool
        public var nodesBefore: Int
        public var nodesAfter: Int
    }

    public var passes: [any Pass]
    /// Run the verifier after every pass (tests do; it costs time on large graphs).
    public var verifyEachPass = false
    public var printAfter: PrintSelection = .none
    /// Passes to skip, by name.
    public var disabled: Set<String> = []
    /// Where `printAfter` writes; standard output by default.
    public var printer: @Sendable (String) -> Void = { print($0, terminator: "") }

    public init(_ passes: [any Pass]) { self.passes = passes }

    /// Runs the pipeline; returns the statistics of each pass that ran.
    @discardableResult
    public func run(_ graph: inout Graph) throws -> [Statistic] {
        var statistics: [Statistic] = []
        try run(passes, on: &graph, into: &statistics)
        return statistics
    }

    /// Runs `passes` once each, a group of them in rounds until one changes nothing; returns
    /// whether any pass changed the graph.
    @discardableResult
    private func run(_ passes: [any Pass], on graph: inout Graph, into statistics: inout [Statistic]) throws -> Bool {
        var changedAny = false
        let clock = ContinuousClock()
        for pass in passes where !disabled.contains(pass.name) {
            if let group = pass as? UntilUnchanged {
                for _ in 0..<group.rounds {
                    guard try run(group.passes, on: &graph, into: &statistics) else { break }
                    changedAny = true
                }
                continue
            }
            let before = graph.nodes.count
            let start = clock.now
            let changed: Bool
            do {
                changed = try pass.run(&graph)
            } catch let error as EmberError {
                throw error.located("pass \(pass.name)")
            }
            let elapsed = clock.now - start
            if verifyEachPass {
                do {
                    try graph.verify()
                } catch let error as EmberError {
                    throw EmberError(.internalError, "the graph is invalid after pass \(pass.name): \(error)")
                }
            }
            if printAfter.includes(pass.name) {
                printer("// -----// IR after \(pass.name)\(changed ? "" : " (unchanged)") //----- //\n\(graph.outline)")
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            statistics.append(Statistic(
                pass: pass.name, seconds: seconds, changed: changed, nodesBefore: before, nodesAfter: graph.nodes.count))
            changedAny = changedAny || changed
        }
        return changedAny
    }

    /// A table of statistics: pass, milliseconds, changed, nodes before and after.
    public static func format(_ statistics: [Statistic]) -> String {
        let width = max(statistics.map(\.pass.count).max() ?? 0, 4)
        var out = "pass".padding(toLength: width, withPad: " ", startingAt: 0) + "        ms  changed  nodes\n"
        for s in statistics {
            out += s.pass.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "%10.2f  ", s.seconds * 1e3)
            out += (s.changed ? "yes" : "no").padding(toLength: 7, withPad: " ", startingAt: 0)
            out += "  \(s.nodesBefore) -> \(s.nodesAfter)\n"
        }
        let total = statistics.reduce(0) { $0 + $1.seconds }
        out += "total".padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "%10.2f\n", total * 1e3)
        return out
    }
}
