#!/usr/bin/env bash
# Runs the instrumented ember-fuzz (make fuzz builds it) over each reader for FUZZ_SECONDS.
#
#     fuzz/run.sh FUZZER WORKDIR [TARGET...]
#
# Each target starts from its seeds (fuzz/corpus/<target>) and the inputs that once crashed it
# (fuzz/regressions/<target>); inputs that reach new code are kept in WORKDIR/corpus/<target>,
# never in the committed corpus, and any crash, timeout or out-of-memory input is written to
# WORKDIR/crashes/ and fails the run. Inputs are capped in size, time and memory so that a run
# tries many of them and an input that allocates without bound counts as a finding.
set -euo pipefail
fuzzer=$1 workdir=$2
shift 2
targets=("$@")
[[ $# -gt 0 ]] || targets=(onnx pt2 engine npy)
seconds=${FUZZ_SECONDS:-60}
root=$(cd "$(dirname "$0")" && pwd)

# The largest input each reader is given: a little above its largest seed.
max_len() {
    case $1 in
        onnx) echo 4096 ;;
        pt2) echo 24576 ;;
        engine) echo 16384 ;;
        npy) echo 1024 ;;
    esac
}

# Swift's runtime keeps metadata and caches alive to the end: not leaks of the readers.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
status=0
for target in "${targets[@]}"; do
    mkdir -p "$workdir/corpus/$target" "$workdir/crashes"
    dirs=("$workdir/corpus/$target" "$root/corpus/$target")
    [[ -d $root/regressions/$target ]] && dirs+=("$root/regressions/$target")
    echo "== fuzzing the $target reader for ${seconds}s"
    if ! "$fuzzer" "$target" "${dirs[@]}" \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -detect_leaks=0 -print_final_stats=1 \
        -artifact_prefix="$workdir/crashes/$target-" 2>&1 | grep -v '^#[0-9]*.*\(NEW\|REDUCE\)\|# Uses: \|^\s*NEW_FUNC'; then
        echo "!! the $target reader failed: see $workdir/crashes/"
        status=1
    fi
done
exit $status
