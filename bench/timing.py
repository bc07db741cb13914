"""Timing helpers the benchmarks share: one timer for every side of a comparison, the machine's
name for a results table, and the rows of `ember bench`'s table."""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def median_ms(fn, iterations: int = 50, warmup: int = 5, cap_s: float | None = None, cuda: bool = True) -> float:
    """The median milliseconds of `fn()` over `iterations` runs after `warmup` runs. On the GPU
    (`cuda`), each run is timed with CUDA events; on the CPU, with the wall clock. With `cap_s`,
    timing stops once that many seconds went by (after at least one timed run), so a model that
    takes seconds per run cannot hold a whole benchmark up."""
    import torch
    cuda = cuda and torch.cuda.is_available()
    start_all = time.perf_counter()
    for _ in range(warmup):
        fn()
        if cap_s is not None and time.perf_counter() - start_all > cap_s / 2:
            break
    if cuda:
        torch.cuda.synchronize()
    times = []
    start_all = time.perf_counter()
    for _ in range(iterations):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        if cap_s is not None and time.perf_counter() - start_all > cap_s:
            break
    return statistics.median(times)


def bench_rows(stdout: str) -> dict[int, list[float]]:
    """The rows of `ember bench`'s table by batch: [ember ms] with `--against none`, else
    [ember ms, peer ms, speedup, max abs diff, max rel diff]."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip().rstrip("x") for c in line.strip().strip("|").split("|")]
        if len(cells) in (2, 6) and cells[0].isdigit():
            try:
                rows[int(cells[0])] = [float(c) for c in cells[1:]]
            except ValueError:
                continue
    return rows
