import EmberIR

/// How hard to optimize: `-O0` runs nothing, `-O1` cleans up, `-O2` (the default) runs everything.
public enum OptimizationLevel: Int, Sendable, CaseIterable {
    case O0 = 0, O1, O2
}

/// The optimization pipelines, as literal lists read top to bottom. Each stage's list lives
/// beside its passes (`Pipeline+Cleanup.swift`, `Pipeline+Recognition.swift`, `Pipeline+Fusion.swift`).
public enum Pipeline {
    public static func passes(_ level: OptimizationLevel) -> [any Pass] {
        switch level {
        case .O0: []
        case .O1: cleanup
        case .O2: cleanup + folding + recognition + cleanup + fusion + cleanup
        }
    }

    /// Every pass, once each, by name: for `--disable-pass` and `--print-ir-after`, and for tests.
    public static let all: [any Pass] = {
        var seen: Set<String> = []
        let passes = (cleanup + folding + recognition + fusion).flatMap { ($0 as? UntilUnchanged)?.passes ?? [$0] }
        return passes.filter { seen.insert($0.name).inserted }
    }()

    public static func pass(named name: String) -> (any Pass)? { all.first { $0.name == name } }
}
