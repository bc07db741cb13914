import EmberCUDA
@testable import EmberCUDAChecks
import EmberIR
import EmberRuntime
import Testing

/// NVRTC, or why the compile tests are skipped. It needs no GPU: pip's NVIDIA wheels carry it, and
/// `make test` points EMBER_CUDA_LIBRARY_PATH at them.
enum RunTimeCompiler {
    static var available: Bool { CUDALibrary.nvrtc.isLoaded }
    static var reason: Comment {
        Comment(rawValue: CUDALibrary.nvrtc.loadFailure.map { "NVRTC is not here: \($0)" } ?? "NVRTC is here")
    }
}

/// Every kernel the provider writes for the device checks compiles for the H100 (sm_90) and for
/// an older architecture (sm_80), on machines without a GPU too.
@Suite(.enabled(if: RunTimeCompiler.available, RunTimeCompiler.reason))
struct CUDACompileTests {
    @Test(arguments: try CUDACheckCases.all())
    func generatedKernelCompiles(_ check: CUDACheckCase) throws {
        guard let source = CUDAKernels.generatedSource(try check.node()) else { return }
        for architecture in ["sm_90", "sm_80"] {
            let cubin = try NVRTC.compile(source, name: "check.cu", architecture: architecture)
            #expect(cubin.count > 0, "\(check.name): empty cubin for \(architecture)")
        }
    }

    @Test func compileErrorsCarryTheCompilersLog() throws {
        #expect(throws: EmberError.self) {
            _ = try NVRTC.compile("extern \"C\" __global__ void k() { undefined_name(); }", architecture: "sm_90")
        }
        do {
            _ = try NVRTC.compile("extern \"C\" __global__ void k() { undefined_name(); }", architecture: "sm_90")
        } catch let error as EmberError {
            #expect("\(error)".contains("undefined_name"))
        }
    }
}

/// The engine checks' models are valid: the CPU backend agrees with the reference on them, so a
/// device failure is the CUDA backend's.
@Suite struct CUDAEngineCheckModelTests {
    @Test(arguments: [CUDAEngineCheck.convNet, CUDAEngineCheck.block])
    func modelsRunOnTheCPU(_ text: String) throws {
        let graph = try CUDAEngineCheck.graph(text)
        let engine = try Engine.compile(graph, backend: .cpu)
        let error = try CUDAEngineCheck.worstError(engine, graph, batches: [1, 3])
        #expect(error <= 1e-4, "relative error \(error)")
    }

    @Test func narrowerPrecisionIsForTheCUDABackend() throws {
        let graph = try CUDAEngineCheck.graph(CUDAEngineCheck.block)
        #expect(throws: EmberError.self) { _ = try Engine.compile(graph, backend: .cpu, precision: .fp16) }
    }
}
