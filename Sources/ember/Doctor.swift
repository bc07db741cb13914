import ArgumentParser
import EmberCPU
import EmberRuntime
import Foundation

/// `ember doctor`: which backends work on this machine, and why the others do not.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Report which backends are available here.")

    func run() throws {
        print("ember \(EmberVersion.string)")
        print("reference: available (the operators' own evaluation)")
        print("cpu: available; its kernels:")
        for line in CPUBackend.report { print("  " + line) }
    }
}
