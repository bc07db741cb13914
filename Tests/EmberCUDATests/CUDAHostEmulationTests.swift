@testable import EmberCUDA
import EmberCUDAChecks
import EmberIR
import EmberTestSupport
import Foundation
import Testing

/// Runs the generated kernels of the elementwise, copy, pool and typed checks on the host: the
/// CUDA C++ is compiled as C++ against a small stand-in for the CUDA built-ins (one OS thread
/// per CUDA thread of a block where the kernel synchronizes them, `__syncthreads` a barrier;
/// one thread after another where it does not; blocks one after another), launched
/// with the planned grid, and its output compared with the reference evaluation. It checks the
/// index arithmetic of every kernel on machines without a GPU; timing means nothing here.
enum HostCompiler {
    static let path = "/usr/bin/c++"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }
    static var reason: Comment { Comment(rawValue: available ? "\(path) is here" : "no C++ compiler at \(path)") }

    /// The CUDA built-ins the generated kernels use, for the host.
    static let shim = #"""
        #include <barrier>
        #include <cstdint>
        #include <cstdio>
        #include <cstdlib>
        #include <cstring>
        #include <math.h>
        #include <string>
        #include <thread>
        #include <utility>
        #include <vector>
        struct Dim3 { unsigned int x, y, z; };
        static thread_local Dim3 threadIdx, blockIdx;
        static Dim3 blockDim, gridDim;
        static std::barrier<> *ember_barrier;
        #define __global__
        #define __device__
        #define __forceinline__ inline
        #define __launch_bounds__(n)
        #define __restrict__ __restrict
        #define __shared__ static
        inline void __syncthreads() { ember_barrier->arrive_and_wait(); }
        struct uint4 { unsigned int x, y, z, w; };
        inline uint4 make_uint4(unsigned int a, unsigned int b, unsigned int c, unsigned int d) { return {a, b, c, d}; }
        inline float __uint_as_float(unsigned int u) { float f; memcpy(&f, &u, 4); return f; }
        inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
        inline unsigned int __float_as_uint(float f) { unsigned int u; memcpy(&u, &f, 4); return u; }
        #define EMBER_INF __int_as_float(0x7f800000)
        inline float ember_h2f(unsigned short h) { _Float16 v; memcpy(&v, &h, 2); return (float)v; }
        inline unsigned short ember_f2h(float f) { _Float16 v = (_Float16)f; unsigned short h; memcpy(&h, &v, 2); return h; }
        inline float ember_b2f(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }
        inline unsigned short ember_f2b(float f) {
            unsigned int u = __float_as_uint(f);
            if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
            u += 0x7fffu + ((u >> 16) & 1u);
            return (unsigned short)(u >> 16);
        }
        inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
        inline float ember_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
        inline float ember_round_f16(float f) { return ember_h2f(ember_f2h(f)); }
        inline float ember_round_bf16(float f) { return ember_b2f(ember_f2b(f)); }
        // Block-wide combinations through one shared slot per thread (warp shuffles have no host form).
        static float ember_slots[1024];
        template <typename F> inline float ember_block(float v, F f) {
            __syncthreads();
            ember_slots[threadIdx.x] = v;
            __syncthreads();
            float r = ember_slots[0];
            for (unsigned int i = 1; i < blockDim.x; ++i) r = f(r, ember_slots[i]);
            __syncthreads();
            return r;
        }
        inline float ember_block_sum(float v, float *) { return ember_block(v, [](float a, float b) { return a + b; }); }
        inline float ember_block_max(float v, float *) { return ember_block(v, [](float a, float b) { return fmaxf(a, b); }); }
        inline float ember_block_min(float v, float *) { return ember_block(v, [](float a, float b) { return fminf(a, b); }); }
        template <typename... P, size_t... I>
        void ember_call(void (*f)(P...), void **p, std::index_sequence<I...>) { f((P)p[I]...); }
        template <typename... P>
        void ember_call(void (*f)(P...), void **p) { ember_call(f, p, std::index_sequence_for<P...>{}); }

        """#

    /// Launches `run` on `blocks` blocks of `threads` threads: with `sync`, each block's
    /// threads at once.
    static let launcher = #"""
        static void ember_launch(unsigned int blocks, unsigned int threads, bool sync, void (*run)(void **), void **p) {
            gridDim = {blocks, 1, 1};
            blockDim = {threads, 1, 1};
            if (!sync) {
                for (unsigned int b = 0; b < blocks; ++b) {
                    for (unsigned int t = 0; t < threads; ++t) {
                        blockIdx = {b, 0, 0};
                        threadIdx = {t, 0, 0};
                        run(p);
                    }
                }
                return;
            }
            std::barrier<> bar(threads);
            ember_barrier = &bar;
            std::vector<std::thread> pool;
            for (unsigned int t = 0; t < threads; ++t) {
                pool.emplace_back([=, &bar] {
                    threadIdx = {t, 0, 0};
                    for (unsigned int b = 0; b < blocks; ++b) {
                        blockIdx = {b, 0, 0};
                        run(p);
                        bar.arrive_and_wait();
                    }
                });
            }
            for (auto &t : pool) t.join();
        }
        static std::vector<unsigned char> ember_read(const std::string &path) {
            FILE *f = fopen(path.c_str(), "rb");
            if (!f) { perror(path.c_str()); exit(3); }
            std::vector<unsigned char> v;
            unsigned char chunk[65536];
            size_t n;
            while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) v.insert(v.end(), chunk, chunk + n);
            fclose(f);
            return v;
        }
        static void *ember_aligned(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64); }
        // argv: case, directory, inputs, output bytes. Reads DIR/inK.bin, writes DIR/out.bin.
        int main(int argc, char **argv) {
            if (argc != 5) return 2;
            int k = atoi(argv[1]);
            std::string dir = argv[2];
            int inputs = atoi(argv[3]);
            size_t outBytes = strtoull(argv[4], nullptr, 10);
            std::vector<void *> p;
            for (int i = 0; i < inputs; ++i) {
                auto bytes = ember_read(dir + "/in" + std::to_string(i) + ".bin");
                void *b = ember_aligned(bytes.size());
                memcpy(b, bytes.data(), bytes.size());
                p.push_back(b);
            }
            void *out = ember_aligned(outBytes);
            memset(out, 0xff, outBytes);
            p.push_back(out);
            ember_launch(ember_blocks[k], ember_threads[k], ember_sync[k], ember_runs[k], p.data());
            FILE *f = fopen((dir + "/out.bin").c_str(), "wb");
            fwrite(out, 1, outBytes, f);
            fclose(f);
            return 0;
        }

        """#
}

/// One check case's kernel as the host runs it.
struct EmulatedCase: Sendable {
    var check: CUDACheckCase
    var kernel: CUDAGeneratedKernel
}

/// Every emulated case, compiled once into one program (each kernel in its own namespace).
enum HostEmulation {
    /// The checks whose kernels are all generated.
    static func checks() throws -> [CUDACheckCase] {
        try CUDACheckCases.elementwise() + CUDACheckCases.typed() + CUDACheckCases.copies() + CUDACheckCases.pools()
    }

    static let cases: [EmulatedCase] = {
        let checks = (try? Self.checks()) ?? []
        return checks.compactMap { check in
            guard let node = try? check.node(),
                case .success(.generated(let kernel)) = CUDAKernelPlan.plan(node, multiprocessors: 132)
            else { return nil }
            return EmulatedCase(check: check, kernel: kernel)
        }
    }()

    static let program: Result<URL, EmberError> = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-host-emulation-\(getpid())")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var text = HostCompiler.shim
            for (k, c) in cases.enumerated() {
                let body = c.kernel.source.replacingOccurrences(of: CUDAPrelude.source, with: "")
                    .replacingOccurrences(of: "extern \"C\" ", with: "")
                text += "namespace c\(k) {\n\(body)\nvoid run(void **p) { ember_call(\(c.kernel.entry), p); }\n}\n"
            }
            text += "static void (*ember_runs[])(void **) = {\(cases.indices.map { "c\($0)::run" }.joined(separator: ", "))};\n"
            text += "static unsigned int ember_blocks[] = {\(cases.map { "\($0.kernel.blocks)u" }.joined(separator: ", "))};\n"
            text += "static unsigned int ember_threads[] = {\(cases.map { "\($0.kernel.threadsPerBlock)u" }.joined(separator: ", "))};\n"
            let sync = cases.map { $0.kernel.source.contains("__syncthreads") || $0.kernel.source.contains("ember_block_") }
            text += "static bool ember_sync[] = {\(sync.map { "\($0)" }.joined(separator: ", "))};\n"
            text += HostCompiler.launcher
            let source = directory.appendingPathComponent("kernels.cpp")
            try text.write(to: source, atomically: true, encoding: .utf8)
            let binary = directory.appendingPathComponent("kernels")
            try run(HostCompiler.path, ["-std=c++20", "-O1", "-pthread", "-w", source.path, "-o", binary.path])
            return .success(binary)
        } catch let error as EmberError {
            return .failure(error)
        } catch {
            return .failure(EmberError(.internalError, "\(error)"))
        }
    }()

    static func run(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw EmberError(.internalError, "\(executable) exited with \(process.terminationStatus): \(String(decoding: message.prefix(4000), as: UTF8.self))")
        }
    }
}

@Suite(.serialized, .enabled(if: HostCompiler.available, HostCompiler.reason))
struct CUDAHostEmulationTests {
    @Test func everyCaseHasAGeneratedKernel() throws {
        #expect(HostEmulation.cases.count == (try HostEmulation.checks()).count)
    }

    @Test(arguments: HostEmulation.cases.indices)
    func kernelMatchesTheReference(_ k: Int) throws {
        let binary = try HostEmulation.program.get()
        let c = HostEmulation.cases[k]
        let node = try c.check.node()
        let present = c.check.inputs.compactMap { $0 }
        let types = node.inputs.compactMap { $0 }
        let directory = binary.deletingLastPathComponent().appendingPathComponent("case\(k)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let reads = c.kernel.reads ?? Array(present.indices)
        for (j, i) in reads.enumerated() {
            let bytes = types[i].layout == .channelsLast ? try CUDAGraphExecutor.channelsLast(present[i]) : present[i].bytes()
            try Data(bytes).write(to: directory.appendingPathComponent("in\(j).bin"))
        }
        let output = try #require(node.outputs.first)
        let outBytes = output.count * output.dtype.byteSize
        try HostEmulation.run(binary.path, ["\(k)", directory.path, "\(reads.count)", "\(outBytes)"])
        let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent("out.bin")))
        let actual = output.layout == .channelsLast
            ? try CUDAGraphExecutor.rowMajor(bytes, output.dtype, shape: output.shape)
            : try Tensor(output.dtype, shape: output.shape, bytes: bytes)
        let expected = try evaluateOp(c.check.op, c.check.inputs)[0]
        let error = actual.relativeError(to: expected) ?? .infinity
        #expect(error <= c.check.tolerance, "\(c.check.name): relative error \(error)")
        try? FileManager.default.removeItem(at: directory)
    }
}
