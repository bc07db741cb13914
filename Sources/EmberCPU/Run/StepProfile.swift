/// Time spent in each step of a program over the runs it was passed to, for finding where a
/// model's time goes (`ember bench --profile`).
public final class StepProfile: @unchecked Sendable {
    private let times = Locked<[Int: Duration]>([:])

    public init() {}

    func add(step: Int, _ duration: Duration) { times.withLock { $0[step, default: .zero] += duration } }

    /// Every step with its total time, slowest first.
    public func report(_ program: CPUProgram) -> [(location: String, provider: String, time: Duration)] {
        let steps = program.steps
        return times.withLock { $0 }.map { (steps[$0.key].location, steps[$0.key].provider, $0.value) }.sorted { $0.time > $1.time }
    }
}
