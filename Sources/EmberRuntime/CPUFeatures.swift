import Foundation

/// The CPU features Ember's kernels are built for, and those of the machine it runs on.
enum CPUFeatures {
    /// What this build's kernels use (see `kernelFlags` in Package.swift).
    static let required: [String] = {
        #if arch(x86_64)
        ["avx2", "fma"]
        #else
        []
        #endif
    }()

    /// The flags `/proc/cpuinfo` lists for this machine; empty where it cannot be read.
    static let available: Set<String> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") || $0.hasPrefix("Features") }),
            let colon = line.firstIndex(of: ":")
        else { return Set(required) }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }()
}
