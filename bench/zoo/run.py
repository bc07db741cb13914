"""Runs the model zoo: per model, whether Ember compiles it, the share of its ops that run in Ember,
its largest relative error against PyTorch eager fp32, and median milliseconds of Ember and its peers.

    python3 bench/zoo/run.py --backend cpu|cuda --precision fp32|fp16 --size small|full --batch 1 --batch 8
        [--models a,b] [--paths python,cli] [--peers eager,compile,reduce-overhead,onnxruntime]
        [--threads N] [--time-cap S] [--model-timeout S] [--jobs N] [--out bench/results/DATE-zoo-DEVICE.md]

Ember runs two ways: `python`, `ember.compile` in the same process as the PyTorch peers and timed
by the same timer (bench/timing.py); `cli`, the ONNX export compiled by `ember compile` and timed
by `ember bench ENGINE --against none`. Peers: PyTorch eager, torch.compile (default mode),
torch.compile mode="reduce-overhead" (GPU only) and ONNX Runtime (on the ONNX export, with
Ember's thread count on the CPU). Each model runs in its own subprocess, with a timeout, so
one that crashes or hangs is recorded and the run goes on. Each timing, Ember's and the peers',
stops after --time-cap seconds (at least one timed run), since some kernels take seconds a run.
With --jobs N (for the GPU, where exports and torch.compile's code generation take most of the
time), N models are prepared side by side while a lock lets only one of them time or build an
Ember engine at once.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import fcntl
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

PEERS = ("eager", "compile", "reduce-overhead", "onnxruntime")
PATHS = ("python", "cli")


def first_line(error: BaseException | str) -> str:
    text = str(error).strip() or type(error).__name__
    line = next((l for l in text.splitlines() if l.strip()), text)
    return f"{type(error).__name__}: {line}"[:300] if isinstance(error, BaseException) else line[:300]


# ---------------------------------------------------------------- one model, in a subprocess

class Record:
    """The worker's results, written to disk after every step so a timeout keeps what was measured."""

    def __init__(self, path: Path, **fields):
        self.path, self.data = path, dict(fields, steps={}, errors={}, ms={}, error={})
        self.save()

    def save(self):
        self.path.write_text(json.dumps(self.data, indent=1))

    def fail(self, step: str, error):
        self.data["errors"][step] = first_line(error)
        print(f"  {self.data['model']}: {step} failed: {self.data['errors'][step]}", flush=True)
        self.save()

    def time(self, key: str, batch: int, ms: float):
        self.data["ms"].setdefault(key, {})[str(batch)] = ms
        print(f"  {self.data['model']}: {key} batch {batch}: {ms:.3f} ms", flush=True)
        self.save()

    def err(self, key: str, batch: int, value: float):
        self.data["error"].setdefault(key, {})[str(batch)] = value
        print(f"  {self.data['model']}: {key} batch {batch}: relative error {value:.2e}", flush=True)
        self.save()


def worker(args) -> int:
    import numpy as np
    import torch

    import ember
    from bench.zoo import ZOO, ember_bin, ember_share, relative_error
    import models as test_models
    from timing import median_ms

    entry = ZOO[args.worker]
    cuda = args.backend == "cuda"
    device = "cuda" if cuda else "cpu"
    torch.set_num_threads(args.threads)
    record = Record(Path(args.record), model=entry.name, family=entry.family)
    work = Path(args.work)
    batches = args.batch
    half = args.precision in ("fp16", "bf16")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(args.precision, torch.float32)

    def timer(fn, cap=None):
        with exclusive(work):
            return median_ms(fn, iterations=args.iterations, warmup=args.warmup, cap_s=cap, cuda=cuda)

    model = entry.build(args.size)
    inputs = {b: entry.inputs(args.size, b) for b in batches}
    with torch.inference_mode():
        reference = {b: [o.float() for o in as_tuple(model(*inputs[b]))] for b in batches}

    # One ONNX export per run, with a symbolic batch (TorchScript exporter, else dynamo).
    onnx = None
    if "cli" in args.paths or "onnxruntime" in args.peers:
        for exporter in ("torchscript", "dynamo"):
            try:
                onnx = test_models.export(entry.case(args.size), exporter, work / f"onnx-{exporter}")
                record.data["exporter"] = exporter
                break
            except Exception as error:  # noqa: BLE001  (a failed export is recorded)
                record.fail(f"export ({exporter})", error)
        record.save()

    # Ember through ember.compile: one engine for every batch where a symbolic batch works.
    if "python" in args.paths:
        compiled, plan = {}, None
        dynamic = (1, max(max(batches), 2))
        try:
            start = time.perf_counter()
            with exclusive(work):  # Ember times kernel candidates while it builds
                one = ember.compile(model, entry.inputs(args.size, 2), backend=args.backend,
                                    precision=args.precision, dynamic_batch=dynamic)
            compiled = {b: one for b in batches}
            record.data["steps"]["compile_s"] = time.perf_counter() - start
            plan = one.plan
        except Exception as error:  # noqa: BLE001
            record.fail("ember.compile (dynamic batch)", error)
            for b in batches:
                try:
                    with exclusive(work):
                        compiled[b] = ember.compile(model, inputs[b], backend=args.backend, precision=args.precision)
                    plan = plan or compiled[b].plan
                except Exception as error2:  # noqa: BLE001
                    record.fail(f"ember.compile (batch {b})", error2)
        if plan is None:
            try:
                plan = ember.explain(model, inputs[batches[0]])
            except Exception as error:  # noqa: BLE001
                record.fail("ember.explain", error)
        if plan is not None:
            record.data["ops_ember"], record.data["ops_total"] = ember_share(plan)
            fallback = sorted({d.op for d in plan.decisions if d.runs_on != "ember"
                               and not d.op.startswith(("_operator.", "aten.sym_", "aten._assert", "torch.sym_"))})
            record.data["fallback_ops"] = fallback[:8]
        record.data["compiled"] = bool(compiled)
        record.save()
        for b, engine in compiled.items():
            try:
                args_dev = [t.to(device) for t in inputs[b]]
                # The first call at a shape builds for it, timing kernel candidates on the GPU,
                # so it holds the lock too: tuned while another model is timed, it would keep
                # whatever the contended GPU made look fastest.
                with torch.inference_mode(), exclusive(work):
                    out = as_tuple(engine(*args_dev))
                record.err("python", b, relative_error([o.float().cpu() for o in out], reference[b]))
                with torch.inference_mode():
                    record.time("ember python", b, timer(lambda: engine(*args_dev), cap=args.time_cap))
            except Exception as error:  # noqa: BLE001
                record.fail(f"ember python batch {b}", error)
        del compiled

    # PyTorch peers, in the same process and with the same timer.
    peer_model = model.to(device)
    if half and cuda:
        peer_model = peer_model.to(dtype)

    def peer_inputs(b):
        return [t.to(device).to(dtype) if (half and cuda and t.is_floating_point()) else t.to(device) for t in inputs[b]]

    for mode in [p for p in args.peers if p in ("eager", "compile", "reduce-overhead")]:
        if mode == "reduce-overhead" and not cuda:
            continue
        try:
            torch._dynamo.reset()
            fn = peer_model if mode == "eager" else torch.compile(peer_model, **({"mode": mode} if mode != "compile" else {}))
            for b in batches:
                xs = peer_inputs(b)
                with torch.inference_mode():
                    fn(*xs)
                    record.time(f"torch {mode}", b, timer(lambda: fn(*xs), cap=args.time_cap))
        except Exception as error:  # noqa: BLE001
            record.fail(f"torch {mode}", error)

    if "onnxruntime" in args.peers and onnx is not None:
        try:
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            providers = ["CUDAExecutionProvider"] if cuda else ["CPUExecutionProvider"]
            session = ort.InferenceSession(str(onnx), options, providers=providers)
            names = [i.name for i in session.get_inputs()]
            for b in batches:
                feed = {n: t.numpy() for n, t in zip(names, inputs[b])}
                session.run(None, feed)
                record.time("onnxruntime", b, timer(lambda: session.run(None, feed), cap=args.time_cap))
        except Exception as error:  # noqa: BLE001
            record.fail("onnxruntime", error)

    # Ember through the CLI: `ember compile` of the ONNX export, `ember run` for the error,
    # `ember bench --against none` for the time.
    if "cli" in args.paths and onnx is not None:
        ember = ember_bin()
        engine = work / "model.engine"
        env = dict(os.environ, EMBER_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        command = [ember, "compile", str(onnx), "-o", str(engine), "--backend", args.backend]
        if args.precision != "fp32":
            command += ["--precision", args.precision]
        start = time.perf_counter()
        with exclusive(work):
            result = subprocess.run(command, capture_output=True, text=True, env=env)
        record.data["steps"]["cli_compile_s"] = time.perf_counter() - start
        record.data["cli_compiled"] = result.returncode == 0
        if result.returncode != 0:
            record.fail("ember compile", result.stderr or result.stdout)
        for b in batches if result.returncode == 0 else []:
            run_command = [ember, "run", str(engine), "--output-dir", str(work / f"out-{b}")]
            for n, t in zip(entry.input_names, inputs[b]):
                np.save(work / f"{n}-{b}.npy", t.numpy())
                run_command += ["--input", f"{n}={work / f'{n}-{b}.npy'}"]
            start = time.perf_counter()
            ran = subprocess.run(run_command, capture_output=True, text=True, env=env)
            run_s = time.perf_counter() - start
            if ran.returncode != 0:
                record.fail(f"ember run batch {b}", ran.stderr or ran.stdout)
                continue
            got = [torch.from_numpy(np.load(work / f"out-{b}" / f"{n}.npy")) for n in entry.output_names]
            record.err("cli", b, relative_error(got, reference[b]))
            # As many runs as fit in the time cap, judging by the one `ember run` took.
            iterations = max(1, min(args.iterations, int(args.time_cap / max(run_s, 1e-3))))
            warmup = min(args.warmup, iterations)
            bench = [ember, "bench", str(engine), "--against", "none", "--batch", str(b),
                     "--iterations", str(iterations), "--warmup", str(warmup)]
            try:
                with exclusive(work):
                    out = subprocess.run(bench, capture_output=True, text=True, env=env,
                                         timeout=args.time_cap * 3 + 60)
                rows = parse_bench(out.stdout)
                if out.returncode != 0 or b not in rows:
                    record.fail(f"ember bench batch {b}", out.stderr or out.stdout or "no timing row")
                else:
                    record.time("ember cli", b, rows[b])
            except subprocess.TimeoutExpired:
                record.fail(f"ember bench batch {b}", f"timed out after {args.time_cap * 3 + 60:.0f} s")
    record.data["done"] = True
    record.save()
    return 0


@contextlib.contextmanager
def exclusive(work: Path):
    """Held while a model is timed or Ember builds (it times kernel candidates): with --jobs,
    models export and compile side by side, but only one at a time measures anything."""
    with open(work.parent / "timing.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def parse_bench(stdout: str) -> dict[int, float]:
    from timing import bench_rows
    return {b: cells[0] for b, cells in bench_rows(stdout).items()}


# ---------------------------------------------------------------- the run and its table

def device_name(backend: str) -> str:
    from timing import cpu_name
    if backend == "cuda":
        import torch
        return torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return cpu_name()


def run_model(name: str, args, work: Path) -> dict:
    record = work / f"{name}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--record", str(record),
               "--work", str(work / name), "--backend", args.backend, "--precision", args.precision,
               "--size", args.size, "--paths", ",".join(args.paths), "--peers", ",".join(args.peers),
               "--threads", str(args.threads), "--time-cap", str(args.time_cap),
               "--iterations", str(args.iterations), "--warmup", str(args.warmup)]
    for b in args.batch:
        command += ["--batch", str(b)]
    (work / name).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, EMBER_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    try:
        result = subprocess.run(command, env=env, timeout=args.model_timeout, stdout=sys.stdout,
                                stderr=subprocess.PIPE, text=True)
        status = None if result.returncode == 0 else f"worker exited with {result.returncode}: " + \
            first_line((result.stderr or "").strip().splitlines()[-1] if result.stderr.strip() else "")
    except subprocess.TimeoutExpired:
        status = f"timed out after {args.model_timeout:.0f} s"
    data = json.loads(record.read_text()) if record.exists() else {"model": name, "errors": {}, "ms": {}, "error": {}}
    if status:
        data["errors"]["worker"] = status
        print(f"  {status}", flush=True)
    data["wall_s"] = time.perf_counter() - start
    return data


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def geomean(values):
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def table(results: list[dict], args, device: str) -> str:
    from bench.zoo import ZOO, ember_bin
    ember_cols = [("ember python", "Ember (python)") if p == "python" else ("ember cli", "Ember (CLI)") for p in args.paths]
    peer_cols = [(("torch " + p) if p != "onnxruntime" else p, {"eager": "PyTorch eager", "compile": "torch.compile",
                  "reduce-overhead": "reduce-overhead", "onnxruntime": "ONNX Runtime"}[p])
                 for p in args.peers if not (p == "reduce-overhead" and args.backend != "cuda")]
    speed_cols = [(e, p) for e, _ in ember_cols for p, _ in peer_cols
                  if e == "ember python" or p == "onnxruntime"]
    label = dict(ember_cols + peer_cols)
    if len(peer_cols) > 1:  # the bar a user sees: the best of the peers at this batch
        speed_cols += [(e, "fastest") for e, _ in ember_cols]
        label["fastest"] = "fastest peer"
    head = ["model", "family", "batch", "compiles", "ops in Ember", "max rel err", "tolerance"] + \
        [f"{l} ms" for _, l in ember_cols + peer_cols] + [f"{label[e]} vs {label[p]}" for e, p in speed_cols]
    lines = [f"# Model zoo, {datetime.date.today()}, {device}", "",
             f"`python3 bench/zoo/run.py --backend {args.backend} --precision {args.precision} --size {args.size} "
             + " ".join(f"--batch {b}" for b in args.batch) + f" --paths {','.join(args.paths)} --peers {','.join(args.peers)}`"
             + f", {args.threads} threads, random weights and inputs. Median ms of up to {args.iterations} runs "
             f"after {args.warmup} warm-up runs; each timing stops after {args.time_cap:.0f} s (at least one run). "
             "Ember (python) is `ember.compile`, timed in the PyTorch peers' process by the same timer; Ember (CLI) is "
             f"`ember compile` of the ONNX export timed by `ember bench` (CLI: {ember_bin()}). Speedups are peer ms / "
             "Ember ms; the fastest peer is the smallest of the peers' ms (none when a peer failed). Max rel err is max|a-b|/max|b| against PyTorch eager fp32 over all outputs, the larger of the "
             "two paths. Ops in Ember counts compute ops of `ember.explain`'s plan.", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    speeds = {c: [] for c in speed_cols}
    failures = []
    for r in results:
        entry = ZOO[r["model"]]
        share = f"{r['ops_ember']}/{r['ops_total']} ({r['ops_ember'] / r['ops_total']:.0%})" if r.get("ops_total") else "-"
        compiles = []
        if "python" in args.paths:
            compiles.append("py " + ("yes" if r.get("compiled") else "no"))
        if "cli" in args.paths:
            compiles.append("cli " + ("yes" if r.get("cli_compiled") else "no"))
        for b in args.batch:
            errs = [r["error"].get(k, {}).get(str(b)) for k in ("python", "cli")]
            errs = [e for e in errs if e is not None]
            ms = {k: r["ms"].get(k, {}).get(str(b)) for k in label}
            peer_ms = [ms[p] for p, _ in peer_cols if ms[p]]
            ms["fastest"] = min(peer_ms) if len(peer_ms) == len(peer_cols) else None
            cells = [r["model"], r.get("family", entry.family), str(b), ", ".join(compiles), share,
                     f"{max(errs):.1e}" if errs else "-", f"{entry.tolerance.get(args.precision, float('nan')):.0e}"]
            cells += [fmt(ms[k]) for k, _ in ember_cols + peer_cols]
            for e, p in speed_cols:
                s = ms[p] / ms[e] if ms[e] and ms[p] else None
                speeds[(e, p)].append(s)
                cells.append(f"{s:.2f}x" if s else "-")
            lines.append("| " + " | ".join(cells) + " |")
        for step, error in r.get("errors", {}).items():
            failures.append(f"- {r['model']}: {step}: {error}")
    geo = ["**geometric mean**", "", "", "", "", "", ""] + [""] * len(ember_cols + peer_cols)
    for c in speed_cols:
        g = geomean(speeds[c])
        geo.append(f"**{g:.2f}x** ({sum(1 for s in speeds[c] if s)} rows)" if g else "-")
    lines.append("| " + " | ".join(geo) + " |")
    if failures:
        lines += ["", "## Failures (first line of each error)", ""] + failures
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--batch", type=int, action="append", help="repeatable (default: 1)")
    parser.add_argument("--models", default="", help="comma-separated zoo names (default: all)")
    parser.add_argument("--paths", default="python,cli")
    parser.add_argument("--peers", default=None, help="default: eager,onnxruntime on the CPU; "
                        "eager,compile,reduce-overhead,onnxruntime on the GPU")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--time-cap", type=float, default=60.0, help="seconds per Ember timing")
    parser.add_argument("--model-timeout", type=float, default=900.0, help="seconds per model, all steps")
    parser.add_argument("--jobs", type=int, default=1, help="models prepared side by side; timings and "
                        "Ember's builds still run one at a time")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--record", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batch = args.batch or [1]
    args.paths = [p for p in args.paths.split(",") if p]
    if args.peers is None:
        args.peers = "eager,compile,reduce-overhead,onnxruntime" if args.backend == "cuda" else "eager,onnxruntime"
    args.peers = [p for p in args.peers.split(",") if p]
    for p in args.paths:
        if p not in PATHS:
            parser.error(f"unknown path {p!r}: {', '.join(PATHS)}")
    for p in args.peers:
        if p not in PEERS:
            parser.error(f"unknown peer {p!r}: {', '.join(PEERS)}")
    if args.worker:
        try:
            return worker(args)
        except Exception:  # noqa: BLE001  (the parent records the last line)
            traceback.print_exc()
            return 1

    from bench.zoo import ZOO
    names = [n for n in args.models.split(",") if n] or list(ZOO)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        parser.error(f"not in the zoo: {', '.join(unknown)}")
    device = device_name(args.backend)
    tag = re.sub(r"[^a-z0-9]+", "-", (device if args.backend == "cuda" else "cpu").lower()).strip("-")
    out = args.out or REPO / "bench" / "results" / f"{datetime.date.today()}-zoo-{tag}.md"
    results = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ember-zoo-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        def one(name):
            print(f"{name} ({args.size}, batch {','.join(map(str, args.batch))})", flush=True)
            return name, run_model(name, args, Path(tmp))
        for name, result in map(concurrent.futures.Future.result,
                                concurrent.futures.as_completed([pool.submit(one, n) for n in names])):
            results[name] = result
            done = [results[n] for n in names if n in results]
            out.write_text(table(done, args, device))  # after every model: an interrupted run keeps its rows
    results = [results[n] for n in names]
    text = table(results, args, device)
    print(text)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
