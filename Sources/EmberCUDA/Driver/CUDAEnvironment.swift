import EmberIR

/// What the CUDA backend finds on this machine, for `ember doctor`: the GPU and the version of
/// each library, or exactly which library failed to load and why.
public enum CUDAEnvironment {
    /// One line per finding; the first says whether the backend is available.
    public static func report() -> [String] {
        var lines: [String] = []
        do {
            let context = try CUDAContext(device: 0)
            let d = context.device
            let driver = try CUDADriver.version()
            let gib = Double(d.totalMemoryBytes) / Double(1 << 30)
            lines.append(
                "cuda: available: \(d.name), compute capability \(d.computeCapability.major).\(d.computeCapability.minor) "
                    + "(\(d.architecture)), \(d.multiprocessorCount) SMs, \(formatted(gib)) GiB; driver supports CUDA \(cudaVersion(driver))")
            let count = try CUDADevice.count()
            if count > 1 { lines.append("  \(count) devices; Ember uses device 0") }
        } catch {
            lines.append("cuda: unavailable: \(error)")
        }
        for library in CUDALibrary.allCases {
            let state = library.loadFailure.map { "not loaded: \($0)" } ?? "loaded" + version(library)
            lines.append("  \(library.rawValue) (\(library.role)): \(state)")
        }
        return lines
    }

    private static func version(_ library: CUDALibrary) -> String {
        switch library {
        case .driver: return (try? CUDADriver.version()).map { ", CUDA \(cudaVersion($0))" } ?? ""
        case .nvrtc: return (try? NVRTC.version()).map { ", version \($0.major).\($0.minor)" } ?? ""
        case .cublasLt: return (try? CUBLASLtHandle.version()).map { ", version \($0)" } ?? ""
        case .cudnn:
            guard let v = try? CUDNNHandle.version(), v > 0 else { return "" }
            let handle = (try? CUDAContext(device: 0)).map { context in
                Result { try CUDNNHandle(context) }
            }
            let made: String
            switch handle {
            case .success?: made = "; a handle was created"
            case .failure(let error)?: made = "; creating a handle failed: \(error)"
            case nil: made = ""
            }
            return ", version \(v / 10000).\((v / 100) % 100).\(v % 100)" + made
        }
    }

    /// 13000 -> "13.0".
    static func cudaVersion(_ v: Int) -> String { "\(v / 1000).\((v % 1000) / 10)" }

    private static func formatted(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
