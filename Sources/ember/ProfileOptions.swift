import ArgumentParser
import EmberIR
import EmberRuntime

/// `--profile NAME=MIN:OPT:MAX` and `--profile-set NAME=MIN:OPT:MAX,...` on `compile`: the shape
/// profiles an engine serves.
///
///     ember compile bert.pt2 -o bert.engine --profile batch=1:8:16 --profile seq=16:128:512
///     ember compile bert.pt2 -o bert.engine --profile-set batch=1:1:1,seq=16:512:512 --profile-set batch=2:16:16,seq=16:64:128
struct ProfileOptions: ParsableArguments {
    @Option(
        name: .long, parsing: .singleValue,
        help: ArgumentHelp(
            "A symbolic dim's sizes in the engine's shape profile, as NAME=MIN:OPT:MAX (batch=1:8:16). Repeatable, once per symbol; together they make one profile. A symbol left out takes any size.",
            valueName: "NAME=MIN:OPT:MAX"))
    var profile: [String] = []

    @Option(
        name: .long, parsing: .singleValue,
        help: ArgumentHelp(
            "A whole shape profile, as NAME=MIN:OPT:MAX joined by commas (batch=1:1:4,seq=16:64:128). Repeatable: each is one more profile, after the one --profile makes. A run's sizes must fit at least one profile unless it allows rebuilding (--allow-rebuild).",
            valueName: "NAME=MIN:OPT:MAX,..."))
    var profileSet: [String] = []

    /// The profiles, in order: the one `--profile` items make, then each `--profile-set`.
    func profiles() throws -> [ShapeProfile] {
        var profiles: [ShapeProfile] = []
        if !profile.isEmpty { profiles.append(try ShapeProfile(try profile.map(ShapeProfile.parseRange))) }
        for set in profileSet { profiles.append(try ShapeProfile(parsing: set)) }
        return profiles
    }
}

/// `--allow-rebuild` on `run` and `bench`.
struct RebuildOptions: ParsableArguments {
    @Flag(
        name: .long,
        help: "Run input shapes outside every shape profile of the engine (each new shape is planned or built on first use) instead of refusing them.")
    var allowRebuild = false
}
