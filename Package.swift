// swift-tools-version: 6.0
import PackageDescription

/// One target per stage of the pipeline in docs/ARCHITECTURE.md; dependencies point one way:
/// IR <- Ops <- (ONNX import, torch import, Reference backend) <- CLI.
/// The reference kernels are built for AVX2 and FMA on x86-64 (every server CPU of the last decade);
/// the baseline x86-64 target would leave them on SSE at less than half the speed.
#if arch(x86_64)
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-O", "-target-cpu", "haswell"])]
#else
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-O"])]
#endif

/// Ember's own CPU kernels share small vector helpers across files; only whole-module
/// optimization inlines them there in debug builds (`make demo` runs a debug build).
let wholeModule: [SwiftSetting] = [.unsafeFlags(["-wmo", "-num-threads", "2"])]

let package = Package(
    name: "Ember",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ember", targets: ["ember"]),
        .library(name: "EmberIR", targets: ["EmberIR"]),
        .library(name: "EmberOps", targets: ["EmberOps"]),
        .library(name: "EmberONNX", targets: ["EmberONNX"]),
        .library(name: "EmberTorch", targets: ["EmberTorch"]),
        .library(name: "EmberPasses", targets: ["EmberPasses"]),
        .library(name: "EmberReference", targets: ["EmberReference"]),
        .library(name: "EmberCPU", targets: ["EmberCPU"]),
        .library(name: "EmberRuntime", targets: ["EmberRuntime"]),
        .library(name: "EmberC", type: .dynamic, targets: ["EmberC"]),
        .library(name: "EmberCUDA", targets: ["EmberCUDA"]),
        .executable(name: "ember-gpu-check", targets: ["ember-gpu-check"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // The graph IR: dtypes, shapes, tensors, nodes, the verifier and the text form.
        .target(name: "EmberIR", swiftSettings: kernelFlags),
        // Every operator: attributes, shape and dtype inference, reference evaluation.
        .target(name: "EmberOps", dependencies: ["EmberIR"], swiftSettings: kernelFlags),
        // ONNX import (protobuf code generated from onnx.proto, see scripts/generate-onnx-proto.sh).
        .target(
            name: "EmberONNX",
            dependencies: ["EmberIR", "EmberOps", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // torch.export archive (.pt2) import: the zip, the serialized program, ATen op mapping.
        .target(
            name: "EmberTorch",
            dependencies: ["EmberIR", "EmberOps", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // The optimizer: named passes and the pipelines that run them.
        .target(name: "EmberPasses", dependencies: ["EmberIR", "EmberOps"]),
        // The reference backend: runs a graph with the operators' own evaluation.
        .target(name: "EmberReference", dependencies: ["EmberIR", "EmberOps"]),
        // oneDNN, loaded at run time (the headers come from Debian's libdnnl-dev).
        .target(name: "EmberDNNL", linkerSettings: [.linkedLibrary("dl")]),
        // The CPU backend: the partitioner, memory plan and executor, oneDNN's primitives and
        // Ember's own vectorized kernels.
        .target(
            name: "EmberCPU", dependencies: ["EmberIR", "EmberOps", "EmberReference", "EmberDNNL"],
            swiftSettings: kernelFlags + wholeModule),
        // The CUDA driver API, NVRTC, cuBLASLt and cuDNN, declared here and loaded at run time.
        .target(name: "EmberCUDADriver", linkerSettings: [.linkedLibrary("dl")]),
        // The CUDA backend: device memory, streams, modules, NVRTC, cuBLASLt, generated kernels.
        .target(name: "EmberCUDA", dependencies: ["EmberIR", "EmberOps", "EmberCUDADriver"]),
        // The CUDA backend's checks against the reference backend, shared by the tests and the
        // device check program.
        .target(
            name: "EmberCUDAChecks",
            dependencies: ["EmberCUDA", "EmberReference", "EmberPasses", "EmberRuntime", "EmberTestSupport"]),
        // Runs every CUDA check and timing on a GPU machine (scripts/gpu-check.sh).
        .executableTarget(name: "ember-gpu-check", dependencies: ["EmberCUDAChecks", "EmberIR"]),
        // The engine file's checksum: xxHash's XXH3, built from Debian's libxxhash-dev header.
        .target(name: "EmberChecksum", cSettings: [.unsafeFlags(["-O2"])]),
        // Engines: compiled models, their file format, and running them.
        .target(
            name: "EmberRuntime",
            dependencies: [
                "EmberIR", "EmberOps", "EmberPasses", "EmberReference", "EmberCPU", "EmberCUDA", "EmberChecksum", "EmberONNX",
                "EmberTorch",
            ]),
        // The C API: include/ember.h declares it, EmberC defines it (libEmberC.so).
        .target(name: "CEmberAPI"),
        .target(name: "EmberC", dependencies: ["CEmberAPI", "EmberIR", "EmberCPU", "EmberONNX", "EmberTorch", "EmberPasses", "EmberRuntime"]),
        // The `ember` command line.
        .executableTarget(
            name: "ember",
            dependencies: [
                "EmberIR", "EmberOps", "EmberONNX", "EmberTorch", "EmberPasses", "EmberReference", "EmberRuntime",
                "EmberCUDA", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Helpers shared by the tests: random tensors, tolerances, IR round trips.
        .target(name: "EmberTestSupport", dependencies: ["EmberIR", "EmberOps", "EmberReference"]),
        .testTarget(name: "EmberIRTests", dependencies: ["EmberIR", "EmberOps", "EmberTestSupport"]),
        .testTarget(name: "EmberOpsTests", dependencies: ["EmberIR", "EmberOps", "EmberReference", "EmberTestSupport"]),
        .testTarget(name: "EmberPassesTests", dependencies: ["EmberPasses", "EmberReference", "EmberTestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "EmberCPUTests", dependencies: ["EmberCPU", "EmberPasses", "EmberTestSupport"]),
        .testTarget(name: "EmberRuntimeTests", dependencies: ["EmberRuntime", "EmberCPU", "EmberReference", "EmberTestSupport"]),
        .testTarget(name: "EmberONNXTests", dependencies: ["EmberONNX", "EmberReference", "EmberTestSupport"]),
        .testTarget(
            name: "EmberTorchTests",
            dependencies: [
                "EmberTorch", "EmberReference", "EmberTestSupport", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]),
        .testTarget(name: "EmberCLITests", dependencies: ["EmberOps", "EmberTestSupport"]),
        .testTarget(name: "EmberCUDATests", dependencies: ["EmberCUDA", "EmberCUDAChecks", "EmberRuntime", "EmberTestSupport"]),
        // The readers of untrusted files as fuzz targets, the fuzzer (`make fuzz`) and the replay of its corpus.
        .target(
            name: "EmberFuzzTargets", dependencies: ["EmberIR", "EmberONNX", "EmberTorch", "EmberRuntime", "EmberChecksum"],
            path: "fuzz/Targets"),
        .executableTarget(name: "ember-fuzz", dependencies: ["EmberFuzzTargets"], path: "fuzz/Driver"),
        .testTarget(name: "EmberFuzzTests", dependencies: ["EmberFuzzTargets"], path: "fuzz/Tests"),
    ]
)
