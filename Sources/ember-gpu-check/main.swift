import EmberCUDA
import EmberCUDAChecks
import EmberIR
import Foundation

// Runs every CUDA check against the reference backend, times each kernel, and prints a table;
// exits non-zero when a check fails. scripts/gpu-check.sh runs it on the GPU machine.

/// Writes a line at once (unbuffered), so a run cut short still shows how far it got.
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

if CommandLine.arguments.contains("--sources") {
    // The generated CUDA C++ of every case, for reading without a device.
    for check in (try? CUDACheckCases.all()) ?? [] {
        guard let node = try? check.node(), let source = CUDAKernels.generatedSource(node) else { continue }
        emit("// ==== \(check.name)\n\(source)")
    }
    exit(0)
}

emit("== environment")
for line in CUDAEnvironment.report() { emit(line) }

let runner: CUDACheckRunner
// EMBER_CUDNN_CANDIDATES bounds the cuDNN plans each convolution builds and times (default 8).
let candidates = Int(ProcessInfo.processInfo.environment["EMBER_CUDNN_CANDIDATES"] ?? "") ?? 8
switch CUDACheckRunner.make(convolutionCandidates: candidates) {
case .success(let r): runner = r
case .failure(let error):
    emit("no CUDA device to check: \(error)")
    exit(2)
}

let iterations = Int(ProcessInfo.processInfo.environment["EMBER_GPU_ITERATIONS"] ?? "") ?? 50
// EMBER_GPU_CHECKS picks sections by name (comma-separated): ops, attention, mlp, conv, resnet, bottleneck, engine.
let sections = Set((ProcessInfo.processInfo.environment["EMBER_GPU_CHECKS"] ?? "ops,attention,mlp,conv,resnet,bottleneck,engine")
    .split(separator: ",").map(String.init))
var failures = 0
var rows: [String] = []
let all: [CUDACheckCase]
do {
    all = sections.contains("ops") ? try CUDACheckCases.all() : []
} catch {
    emit("could not build the cases: \(error)")
    exit(1)
}
emit("\n== checks (\(all.count) cases, median of \(iterations) timed runs)")
for check in all {
    do {
        let r = try runner.run(check, iterations: iterations)
        if !r.passed { failures += 1 }
        let line = "| \(r.name) | \(String(format: "%.2e", r.relativeError)) | \(String(format: "%.0e", r.tolerance)) | \(r.passed ? "pass" : "FAIL") | \(r.milliseconds.map { String(format: "%.4f", $0) } ?? "-") | \(r.rate) |"
        rows.append(line)
        emit(line)
    } catch {
        failures += 1
        let line = "| \(check.name) | error | \(String(format: "%.0e", check.tolerance)) | FAIL | - | \(error) |"
        rows.append(line)
        emit(line)
    }
}
if sections.contains("attention") {
    emit("\n== fused attention, BERT-base at sequence 128, fp16 [batch,12,128,64] with a padding mask")
    for batch in [1, 32] {
        do {
            let r = try runner.run(try CUDACheckCases.bertAttention(batch: batch), iterations: iterations)
            if !r.passed { failures += 1 }
            let line = "| attention bert f16 batch \(batch) | \(String(format: "%.2e", r.relativeError)) | \(String(format: "%.0e", r.tolerance)) | \(r.passed ? "pass" : "FAIL") | \(r.milliseconds.map { String(format: "%.4f", $0) } ?? "-") | \(r.rate), \(r.milliseconds.map { String(format: "%.1f", $0 * 1000) } ?? "-") us |"
            rows.append(line)
            emit(line)
        } catch {
            failures += 1
            let line = "| attention bert f16 batch \(batch) | error | - | FAIL | - | \(error) |"
            rows.append(line)
            emit(line)
        }
    }
}
emit("\n== MLP block (linear+bias+gelu, linear+bias, residual add, layer norm, softmax; 128x512, hidden 2048)")
for dtype in [DType.f32, .f16] where sections.contains("mlp") {
    let tolerance = dtype == .f32 ? 1e-4 : 1e-2
    do {
        let r = try CUDABlockCheck.run(runner, dtype, iterations: iterations)
        for (how, error, ms) in [("5 launches", r.error, r.milliseconds), ("CUDA graph", r.graphError, r.graphMilliseconds)] {
            let passed = error <= tolerance
            if !passed { failures += 1 }
            let line = "| mlp block \(dtype) [128,512], \(how) | \(String(format: "%.2e", error)) | \(String(format: "%.0e", tolerance)) | \(passed ? "pass" : "FAIL") | \(ms.map { String(format: "%.4f", $0) } ?? "-") | whole graph |"
            rows.append(line)
            emit(line)
        }
    } catch {
        failures += 1
        let line = "| mlp block \(dtype) [128,512] | error | - | FAIL | - | \(error) |"
        rows.append(line)
        emit(line)
    }
}

func errorText(_ e: Double?) -> String { e.map { String(format: "%.2e", $0) } ?? "-" }
func msText(_ ms: Double?) -> String { ms.map { String(format: "%.4f", $0) } ?? "-" }

var convCases: [CUDAConvCase] = []
if sections.contains("conv") { convCases += CUDAConvCases.correctness() }
if sections.contains("resnet") { convCases += CUDAConvCases.resnet50(batch: 1) + CUDAConvCases.resnet50(batch: 32) }
if !convCases.isEmpty {
    emit("\n== cuDNN convolutions (\(convCases.count) cases; channels-last; plans chosen by timing when built)")
    emit("| case | max rel. error | tolerance | result | median ms | rate | plan |")
    emit("| --- | --- | --- | --- | --- | --- | --- |")
}
for check in convCases {
    do {
        let r = try runner.run(check, iterations: iterations)
        if !r.passed { failures += 1 }
        let line = "| \(r.name) | \(errorText(r.relativeError)) | \(String(format: "%.0e", r.tolerance)) | \(r.passed ? "pass" : "FAIL") | \(msText(r.milliseconds)) | \(r.rate) | \(r.summary); built in \(String(format: "%.2f", r.buildSeconds)) s |"
        rows.append(line)
        emit(line)
    } catch {
        failures += 1
        let line = "| \(check.name) | error | \(String(format: "%.0e", check.tolerance)) | FAIL | - | - | \(error) |"
        rows.append(line)
        emit(line)
    }
}

if sections.contains("bottleneck") {
    emit("\n== ResNet-50 bottleneck block (3 convolutions, residual fused; whole graph, layout copies included)")
    for (dtype, batch) in [(DType.f32, 1), (.f16, 1), (.f16, 32)] {
        let tolerance = dtype == .f32 ? 1e-4 : 1e-2
        do {
            let r = try CUDAConvBlockCheck.run(runner, dtype, batch: batch, check: batch == 1, iterations: iterations)
            if batch == 1 || dtype == .f16 { for step in r.plan { emit("  \(dtype) n\(batch): \(step)") } }
            for (how, error, ms) in [("launches", r.error, r.milliseconds), ("CUDA graph", r.graphError, r.graphMilliseconds)] {
                let passed = (error ?? 0) <= tolerance
                if !passed { failures += 1 }
                let line = "| bottleneck \(dtype) n\(batch), \(how) | \(errorText(error)) | \(String(format: "%.0e", tolerance)) | \(passed ? "pass" : "FAIL") | \(msText(ms)) | whole graph |"
                rows.append(line)
                emit(line)
            }
        } catch {
            failures += 1
            let line = "| bottleneck \(dtype) n\(batch) | error | - | FAIL | - | \(error) |"
            rows.append(line)
            emit(line)
        }
    }
}
if sections.contains("engine") {
    emit("\n== CUDA engines (compiled, run at batch 1 and 3, saved and loaded, ops forced to the host)")
    for r in CUDAEngineCheck.run() {
        if !r.passed { failures += 1 }
        let line = "| engine \(r.name) | \(errorText(r.relativeError)) | \(String(format: "%.0e", r.tolerance)) | \(r.passed ? "pass" : "FAIL") | - | \(r.detail) |"
        rows.append(line)
        emit(line)
    }
}
emit("\n| case | max rel. error | tolerance | result | median ms | rate |")
emit("| --- | --- | --- | --- | --- | --- |")
for row in rows { emit(row) }
emit("\(rows.count - failures) of \(rows.count) checks passed; \(runner.kernels.compiler.moduleCount + runner.tf32Kernels.compiler.moduleCount) kernels compiled")
exit(failures == 0 ? 0 : 1)
