import EmberCUDA
import EmberCUDAChecks
import EmberIR
import EmberOps
import Testing

/// The device, or why these tests are skipped on this machine.
enum GPU {
    static let runner = CUDACheckRunner.make()
    static var available: Bool { (try? runner.get()) != nil }
    static var reason: Comment {
        switch runner {
        case .success: "a CUDA device is present"
        case .failure(let error): Comment(rawValue: "no CUDA device here: \(error)")
        }
    }
}

/// Every generated kernel and cuBLASLt product against the reference backend, on random inputs,
/// whole tensors, outputs poisoned with NaN first (f32 1e-4, f16/bf16 1e-2 relative error).
@Suite(.serialized, .enabled(if: GPU.available, GPU.reason))
struct CUDAKernelTests {
    @Test(arguments: try CUDACheckCases.elementwise())
    func elementwise(_ check: CUDACheckCase) throws { try expectMatch(check) }

    @Test(arguments: CUDACheckCases.rows())
    func rows(_ check: CUDACheckCase) throws { try expectMatch(check) }

    @Test(arguments: try CUDACheckCases.matmul())
    func matmul(_ check: CUDACheckCase) throws { try expectMatch(check) }

    private func expectMatch(_ check: CUDACheckCase) throws {
        let result = try GPU.runner.get().run(check)
        #expect(result.relativeError <= check.tolerance, "\(check.name): relative error \(result.relativeError)")
    }

    @Test(arguments: [DType.f32, .f16])
    func mlpBlockRunsWholeOnTheDevice(_ dtype: DType) throws {
        let r = try CUDABlockCheck.run(try GPU.runner.get(), dtype, iterations: 0)
        let tolerance = dtype == .f32 ? 1e-4 : 1e-2
        #expect(r.error <= tolerance, "relative error \(r.error)")
        #expect(r.graphError <= tolerance, "relative error of the CUDA graph replay \(r.graphError)")
    }

    /// cuDNN convolutions (channels-last, fused epilogues) against the reference.
    @Test(arguments: CUDAConvCases.correctness())
    func convolution(_ check: CUDAConvCase) throws {
        let result = try GPU.runner.get().run(check, iterations: 0)
        #expect(result.passed, "\(check.name): relative error \(result.relativeError ?? .nan) (\(result.summary))")
    }

    @Test func bottleneckBlockRunsWholeOnTheDevice() throws {
        let r = try CUDAConvBlockCheck.run(try GPU.runner.get(), .f16, batch: 1, check: true, iterations: 0)
        #expect((r.error ?? .infinity) <= 1e-2, "relative error \(r.error ?? .nan)")
        #expect((r.graphError ?? .infinity) <= 1e-2, "relative error of the CUDA graph replay \(r.graphError ?? .nan)")
    }

    /// Whole engines: compiled, run at two batch sizes, saved and loaded, ops forced to the host.
    @Test func enginesAgreeWithTheReference() {
        for r in CUDAEngineCheck.run() {
            #expect(r.passed, "\(r.name): relative error \(r.relativeError) (\(r.detail))")
        }
    }

    @Test func memoryRoundTripsAndTimesWithEvents() throws {
        let runner = try GPU.runner.get()
        let x = Tensor.random(.f32, [1 << 20], in: -1...1, seed: 7)
        let a = try CUDABuffer(runner.context, tensor: x)
        #expect(try a.tensor(.f32, shape: x.shape) == x)
        let ms = try runner.stream.medianMilliseconds(iterations: 3) {}
        #expect(ms >= 0)
    }

    @Test func compileErrorsCarryTheLog() throws {
        let runner = try GPU.runner.get()
        #expect(throws: EmberError.self) {
            _ = try NVRTC.compile("extern \"C\" __global__ void k() { undefined_name(); }", architecture: runner.context.device.architecture)
        }
    }
}

extension CUDACheckCase: CustomTestStringConvertible {
    public var testDescription: String { name }
}
