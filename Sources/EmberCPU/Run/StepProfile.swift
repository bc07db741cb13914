/// Time spent in each step of a program over the runs it was passed to, for finding where a
/// model's time goes (`ember bench --profile`).
public final class StepProfile: @unchecked Sendable {
    private let times = Locked<[Int: Duration]>([:])

    public init() {}

    func add(step: Int, _ duration: Duration) { times.withLock { $0[step, default: .zero] += duration } }

    /// Every step with its op ("layout conversion" for the planner's copies) and total time,
    /// slowest first.
    public func report(_ program: CPUProgram) -> [(location: String, provider: String, op: String, time: Duration)] {
        let steps = program.layout.steps
        return times.withLock { $0 }.map { step, time in
            (steps[step].location, steps[step].provider, steps[step].op?.name ?? "layout conversion", time)
        }.sorted { $0.time > $1.time }
    }
}
