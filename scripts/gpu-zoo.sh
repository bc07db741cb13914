#!/usr/bin/env bash
# Runs the model zoo (bench/zoo/run.py) on a GPU machine with binaries built elsewhere: it builds
# nothing. Results go under $OUT (default ./gpu-zoo-out): the table, the log and the device.
#
# Prepare on the development machine (release, Swift runtime linked in statically):
#   S=$(dirname $(dirname $(readlink -f $(which swift))))/lib/swift_static/linux
#   swift build -c release -Xswiftc -static-stdlib -Xlinker -L$S --product EmberC
#   swift build -c release -Xswiftc -static-stdlib -Xlinker -L$S --product ember
#   mkdir -p .gpu && for f in ember libEmberC.so; do strip -o .gpu/$f .build/release/$f; xz -f .gpu/$f; done
# then on the GPU machine, from the repository:  bash scripts/gpu-zoo.sh
# ZOO_MODELS (comma-separated, default: all), ZOO_BATCHES (default 1,32), ZOO_PRECISION (fp16),
# ZOO_JOBS (models prepared side by side, default 6), ZOO_SECONDS (stop after, default 540),
# ZOO_PEERS (default eager,compile,reduce-overhead), ZOO_ITERATIONS (50), ZOO_TIME_CAP (10 s).
# DIAGNOSE="model:batch[:flags] ..." first runs bench/zoo/diagnose.py on each (flags such as
# --no-timing or --no-errors, comma-separated), within DIAGNOSE_SECONDS (default 300), and the
# zoo only when ZOO_MODELS is set; with DIAGNOSE_PARALLEL=1 the items run side by side.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$PWD/gpu-zoo-out}"
bin="${EMBER_GPU_BINARIES:-$repo/.gpu}"
mkdir -p "$out" /tmp/ember-gpu
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
    python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"
} | tee "$out/device.txt"
for f in ember libEmberC.so; do
    if [ -f "$bin/$f.xz" ]; then xz -dc "$bin/$f.xz" > "/tmp/ember-gpu/$f"; else cp "$bin/$f" "/tmp/ember-gpu/$f"; fi
done
chmod +x /tmp/ember-gpu/ember
export EMBER_BIN=/tmp/ember-gpu/ember EMBER_LIBRARY=/tmp/ember-gpu/libEmberC.so PYTHONPATH="$repo/python:${PYTHONPATH:-}"
export PYTHONUNBUFFERED=1
diagnose() {
    IFS=: read -r model batch flags <<< "$1"
    timeout "${DIAGNOSE_SECONDS:-300}" python3 "$repo/bench/zoo/diagnose.py" "$model" --backend cuda \
        --precision "${ZOO_PRECISION:-fp16}" --batch "${batch:-1}" ${flags//,/ } \
        --out "$out/diagnose-$model-$batch.json" > "$out/diagnose-$model-$batch.txt" 2>&1
    echo "diagnosed $1: exit status $?"
}
for item in ${DIAGNOSE:-}; do
    if [ -n "${DIAGNOSE_PARALLEL:-}" ]; then diagnose "$item" & else diagnose "$item"; fi
done
wait
if [ -n "${DIAGNOSE:-}" ] && [ -z "${ZOO_MODELS:-}" ]; then exit 0; fi
batches=()
zoo_batches="${ZOO_BATCHES:-1,32}"
for b in ${zoo_batches//,/ }; do batches+=(--batch "$b"); done
timeout "${ZOO_SECONDS:-540}" python3 "$repo/bench/zoo/run.py" --backend cuda --precision "${ZOO_PRECISION:-fp16}" \
    --size full "${batches[@]}" --jobs "${ZOO_JOBS:-6}" --peers "${ZOO_PEERS:-eager,compile,reduce-overhead}" \
    --iterations "${ZOO_ITERATIONS:-50}" --warmup 10 --time-cap "${ZOO_TIME_CAP:-10}" --model-timeout 480 \
    ${ZOO_MODELS:+--models "$ZOO_MODELS"} --out "$out/zoo.md" 2>&1 | tee "$out/log.txt"
echo "zoo exit status: ${PIPESTATUS[0]}"
