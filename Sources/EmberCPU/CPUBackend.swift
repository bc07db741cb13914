import EmberIR

/// The CPU backend: the kernel providers it uses, fastest first, ending with the reference kernels
/// that run everything else.
public enum CPUBackend {
    /// The providers, in order of preference: oneDNN for convolutions, matrix products and pools
    /// (it declines everything, saying why, where the library is missing), Ember's own vectorized
    /// kernels for the rest, and the reference kernels for what neither runs.
    public static var providers: [any CPUKernelProvider] {
        [OneDNNKernels(), EmberKernels(), ReferenceKernels()]
    }

    /// One line per provider on whether it works here, for `ember doctor`.
    public static var report: [String] {
        [
            "onednn: " + OneDNN.status.description
                + (OneDNN.channelBlock.map { ", channel blocks of \($0)" } ?? ""),
            "ember kernels: available (\(Parallel.threadCount) threads)",
            "reference kernels: available",
        ]
    }

    /// The versions of the libraries the backend uses here, recorded in engine files.
    public static var libraryVersions: [String: String] {
        if case .available(let version) = OneDNN.status { return ["onednn": version] }
        return [:]
    }
}
