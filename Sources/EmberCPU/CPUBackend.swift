import EmberIR

/// The CPU backend: the kernel providers it uses, fastest first, ending with the reference kernels
/// that run everything else.
public enum CPUBackend {
    /// The providers that work on this machine, in order of preference.
    public static var providers: [any CPUKernelProvider] {
        [ReferenceKernels()]
    }
}
