#!/usr/bin/env bash
# Runs every GPU check and timing of the CUDA backend on a GPU machine, with binaries built
# elsewhere: it builds nothing. Results go under $OUT (default ./gpu-check-out).
#
# Prepare on the development machine:
#   swift build -c release --static-swift-stdlib --product ember-gpu-check
#   swift build -c release --static-swift-stdlib --product ember       # for the model benchmark
#   mkdir -p DIR && cp .build/release/ember-gpu-check .build/release/ember scripts/gpu-check.sh \
#       bench/cuda_torch_peer.py bench/timing.py bench/gpu.py DIR/   (gpu.py reads tests/python/models.py from the repo)
#   strip DIR/ember-gpu-check DIR/ember && xz DIR/ember-gpu-check DIR/ember   # optional: smaller to carry
# then on the GPU machine:  bash DIR/gpu-check.sh
# EMBER_GPU_CHECKS=ops,mlp,conv,resnet,bottleneck,engine (the default: all) picks the sections of both
# the Ember checks and the PyTorch peer; TORCH_PEER_SECTIONS, when set, those of the peer.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$out"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,utilization.gpu \
        --format=csv 2>&1 || echo "nvidia-smi unavailable"
} | tee "$out/device.txt"

check="$here/ember-gpu-check"
if [ ! -x "$check" ] && [ -f "$check.xz" ]; then
    { xz -dc "$check.xz" 2>/dev/null || python3 -c "import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())" "$check.xz"; } \
        > /tmp/ember-gpu-check && chmod +x /tmp/ember-gpu-check && check=/tmp/ember-gpu-check
fi
status=0
if [ -x "$check" ]; then
    timeout "${EMBER_CHECK_TIMEOUT:-900}" "$check" 2>&1 | tee "$out/checks.txt"
    status=${PIPESTATUS[0]}
else
    echo "missing $here/ember-gpu-check: build it first (see the top of this script)" | tee "$out/checks.txt"
    status=2
fi

# PyTorch on the same cases, when it is installed there: the peer to beat.
if [ -f "$here/cuda_torch_peer.py" ] && python3 -c "import torch" 2>/dev/null; then
    PYTHONUNBUFFERED=1 timeout "${TORCH_PEER_TIMEOUT:-300}" python3 "$here/cuda_torch_peer.py" \
        --sections "${TORCH_PEER_SECTIONS:-${EMBER_GPU_CHECKS:-ops,mlp,resnet,bottleneck}}" 2>&1 | tee "$out/torch.txt"
fi
# Whole models against PyTorch (bench/gpu.py), when the `ember` binary is there too:
# EMBER_GPU_BENCH names the models (resnet50,bert,vit), EMBER_GPU_BATCHES the batch sizes.
ember="$here/ember"
if [ ! -x "$ember" ] && [ -f "$ember.xz" ]; then
    { xz -dc "$ember.xz" 2>/dev/null || python3 -c "import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())" "$ember.xz"; } \
        > /tmp/ember && chmod +x /tmp/ember && ember=/tmp/ember
fi
if [ -n "${EMBER_GPU_BENCH:-}" ] && [ -x "$ember" ] && [ -f "$here/gpu.py" ]; then
    PYTHONUNBUFFERED=1 timeout "${EMBER_BENCH_TIMEOUT:-540}" python3 "$here/gpu.py" --ember "$ember" \
        --models "$EMBER_GPU_BENCH" --batches "${EMBER_GPU_BATCHES:-1,32}" \
        --peers "${EMBER_GPU_PEERS:-eager,compile,reduce-overhead}" --out "$out" \
        ${EMBER_GPU_PROFILE:+--profile} 2>&1 | tee "$out/bench.txt"
fi
echo "ember-gpu-check exit status: $status"
exit "$status"
