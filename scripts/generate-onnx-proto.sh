#!/usr/bin/env bash
# Regenerates Sources/EmberONNX/Generated/onnx.pb.swift from the onnx.proto that the installed
# `onnx` Python package ships. Needs protoc (Debian: protobuf-compiler) and builds protoc-gen-swift
# from swift-protobuf at the version Package.swift names. The generated file is committed, so
# ordinary builds never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.39.0
work=${TMPDIR:-/tmp}/ember-protoc-gen-swift-$version
if [ ! -x "$work/.build/release/protoc-gen-swift" ]; then
  rm -rf "$work"
  git clone --quiet --depth 1 --branch "$version" https://github.com/apple/swift-protobuf "$work"
  (cd "$work" && swift build -c release --product protoc-gen-swift)
fi
proto=$(python3 -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "onnx.proto"))')
cp "$proto" proto/onnx.proto
protoc --plugin=protoc-gen-swift="$work/.build/release/protoc-gen-swift" \
  --swift_opt=Visibility=Package --swift_out=Sources/EmberONNX/Generated -I proto proto/onnx.proto
echo "generated Sources/EmberONNX/Generated/onnx.pb.swift from onnx $(python3 -c 'import onnx; print(onnx.__version__)')"
