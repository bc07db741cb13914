"""Finds why a zoo model is wrong or slow on a backend, through the CLI on its ONNX export.

    python3 bench/zoo/diagnose.py --backend cuda --precision fp16 --batch 1 --batch 32 MODEL [MODEL ...]
        [--size full|small] [--tolerance T] [--no-bisect] [--no-timing] [--out report.json]

Per model and batch it prints:
- the relative error (bench/zoo's measure, against PyTorch eager fp32) of `ember run` at each
  precision and optimization level, and with each op type sent to the reference kernels
  (`--fallback-op`): a wrong answer that goes away when one op type falls back names that op;
- the first ONNX node whose value is wrong: the export is cut after a node
  (`onnx.utils.Extractor`), the cut model run by `ember run`, and its output compared with ONNX
  Runtime's value of the same tensor (CPU, fp32), bisecting over the nodes in graph order;
- with timing on, where a `ember.compile` engine and the CLI's engine spend their time: the kernel
  placements of the Python engine (host nodes stop the CUDA graph replay), and milliseconds of
  each path with the same timer.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench.zoo import ember_bin  # noqa: E402


def log(*parts):
    print(*parts, flush=True)


class Runner:
    """`ember run` of one ONNX file on one set of inputs, returning its outputs by name."""

    def __init__(self, work: Path, names: list[str], inputs, backend: str):
        import numpy as np
        self.work, self.backend = work, backend
        self.feeds = []
        for name, tensor in zip(names, inputs):
            path = work / f"in-{name}.npy"
            np.save(path, tensor.numpy())
            self.feeds += ["--input", f"{name}={path}"]
        self.count = 0

    def run(self, model: Path, precision: str, extra=()) -> tuple[dict | None, str]:
        import numpy as np
        self.count += 1
        out = self.work / f"out-{self.count}"
        command = [ember_bin(), "run", str(model), "--backend", self.backend, "--output-dir", str(out), *self.feeds,
                   *extra]
        if precision != "fp32":
            command += ["--precision", precision]
        ran = subprocess.run(command, capture_output=True, text=True)
        if ran.returncode != 0:
            lines = (ran.stderr or ran.stdout).strip().splitlines() or [f"exit status {ran.returncode}"]
            return None, lines[-1][:300]
        return {p.stem: np.load(p) for p in out.glob("*.npy")}, ""


def onnx_values(model_path: Path, names: list[str], inputs) -> dict:
    """ONNX Runtime's (CPU, fp32) value of every float tensor the graph computes, by name."""
    import onnx
    import onnxruntime as ort
    model = onnx.load(str(model_path))
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {v.name for v in list(inferred.graph.value_info) + list(inferred.graph.output)
              if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    known = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for o in node.output:
            if o and o in floats and o not in known:
                model.graph.output.append(onnx.helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None))
                known.add(o)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {n: t.numpy() for n, t in zip(names, inputs)}
    wanted = [o.name for o in session.get_outputs()]
    return dict(zip(wanted, session.run(wanted, feed)))


def cut_points(model_path: Path, values: dict) -> list[tuple[int, str, str]]:
    """(node index, op type, output name) of every compute node whose first output is a float
    tensor ONNX Runtime computed, in graph order."""
    import onnx
    model = onnx.load(str(model_path), load_external_data=False)
    skip = {"Constant", "Shape", "Identity", "Cast", "Gather", "Unsqueeze", "Concat", "Reshape", "Flatten", "Squeeze"}
    return [(i, n.op_type, n.output[0]) for i, n in enumerate(model.graph.node)
            if n.output and n.output[0] in values and n.op_type not in skip]


def bisect(model_path: Path, names, inputs, runner: Runner, precision: str, tolerance: float, work: Path) -> dict:
    """The first cut point whose value Ember gets wrong (relative error above `tolerance`)."""
    import onnx
    import onnx.utils
    import torch
    from bench.zoo import relative_error
    work.mkdir(parents=True, exist_ok=True)
    values = onnx_values(model_path, names, inputs)
    points = cut_points(model_path, values)
    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    extractor = onnx.utils.Extractor(model)
    errors: dict[int, float | str] = {}

    def error_at(k: int):
        if k in errors:
            return errors[k]
        _, op, name = points[k]
        cut = work / f"cut-{k}.onnx"
        onnx.save(extractor.extract_model(list(names), [name]), str(cut))
        got, why = runner.run(cut, precision)
        if got is None:
            errors[k] = why
        else:
            value = next(iter(got.values()))
            errors[k] = relative_error([torch.from_numpy(value.astype("float64"))],
                                       [torch.from_numpy(values[name].astype("float64"))])
        log(f"    cut {k:4d}/{len(points)} {op:22s} {name[:48]:48s} error {errors[k] if isinstance(errors[k], str) else f'{errors[k]:.2e}'}")
        return errors[k]

    def bad(k):
        e = error_at(k)
        return isinstance(e, str) or e > tolerance

    if not points:
        return {"error": "no cut points"}
    lo, hi = 0, len(points) - 1
    if not bad(hi):
        return {"first_bad": None, "last_error": errors[hi], "points": len(points)}
    while lo < hi:
        mid = (lo + hi) // 2
        if bad(mid):
            hi = mid
        else:
            lo = mid + 1
    index, op, name = points[lo]
    node = model.graph.node[index]
    shapes = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    attributes = {k: (v if isinstance(v, (int, float, list)) else str(v)[:80]) for k, v in attributes.items()}
    before = errors.get(lo - 1, error_at(lo - 1) if lo > 0 else None)
    return {"first_bad": name, "op": op, "node": node.name, "inputs": [(i, shapes.get(i)) for i in node.input],
            "output_shape": shapes.get(name), "attributes": attributes, "error": errors[lo], "error_before": before,
            "points": len(points)}


def exported(entry, args, work: Path) -> Path:
    """The model's ONNX export (TorchScript exporter, symbolic batch), made once per model."""
    import models as test_models
    path = work / "onnx" / "model.onnx"
    if not path.exists():
        test_models.export(entry.case(args.size), "torchscript", work / "onnx")
    return path


def diagnose_errors(entry, args, batch: int, work: Path, report: dict):
    import onnx
    import torch
    from bench.zoo import relative_error
    model = entry.build(args.size)
    inputs = entry.inputs(args.size, batch)
    with torch.inference_mode():
        out = model(*inputs)
    reference = [o.float() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    onnx_path = exported(entry, args, work)
    runner = Runner(work, entry.input_names, inputs, args.backend)
    tolerance = args.tolerance or entry.tolerance.get(args.precision, 3e-2)

    def measured(precision, extra=()):
        got, why = runner.run(onnx_path, precision, extra)
        if got is None:
            return why
        return relative_error([torch.from_numpy(got[n]) for n in entry.output_names], reference)

    variants = {}
    for precision, level in dict.fromkeys([(args.precision, 2), (args.precision, 1), (args.precision, 0), ("fp32", 2)]):
        variants[f"{precision} -O{level}"] = measured(precision, ["-O", str(level)])
        log(f"  batch {batch} {precision} -O{level}: {variants[f'{precision} -O{level}']}")
    variants[f"{args.precision} -O2 again"] = measured(args.precision)
    listed = subprocess.run([ember_bin(), "ops", "--json"], capture_output=True, text=True)
    by_onnx = {source: op["op"] for op in json.loads(listed.stdout or "[]") for source in op["onnx"]}
    types = {n.op_type for n in onnx.load(str(onnx_path), load_external_data=False).graph.node}
    ops = sorted({by_onnx[t] for t in types if t in by_onnx}
                 - {"constant", "shape", "identity", "gather", "unsqueeze", "concat", "reshape"})
    for op in ops:
        variants[f"{args.precision} fallback {op}"] = measured(args.precision, ["--fallback-op", op])
        log(f"  batch {batch} {args.precision} --fallback-op {op}: {variants[f'{args.precision} fallback {op}']}")
    section = report.setdefault(entry.name, {}).setdefault(str(batch), {})
    section["variants"] = variants
    main = variants[f"{args.precision} -O2"]
    if args.bisect and (isinstance(main, str) or main > tolerance):
        log(f"  batch {batch}: bisecting {args.precision} (tolerance {tolerance:.0e})")
        section["bisect"] = bisect(onnx_path, entry.input_names, inputs, runner, args.precision, tolerance,
                                   work / f"cuts-{batch}")
        log(f"  batch {batch}: first wrong value: {json.dumps(section['bisect'])[:1500]}")


def diagnose_speed(entry, args, batch: int, work: Path, report: dict):
    """Milliseconds of the same model through ember.compile (static and dynamic batch), the CLI's
    engine loaded in Python, and `ember bench`, with the Python engines' host placements."""
    import torch
    import ember
    from timing import median_ms, bench_rows
    cuda = args.backend == "cuda"
    device = "cuda" if cuda else "cpu"
    model = entry.build(args.size)
    inputs = entry.inputs(args.size, batch)
    on_device = [t.to(device) for t in inputs]
    section = report.setdefault(entry.name, {}).setdefault(str(batch), {})
    times = {}
    for label, options in (("ember.compile static", {}), ("ember.compile dynamic 1..32", {"dynamic_batch": (1, 32)})):
        try:
            example = inputs if not options else entry.inputs(args.size, 2)
            compiled = ember.compile(model, example, backend=args.backend, precision=args.precision, **options)
            with torch.inference_mode():
                compiled(*on_device)
                times[label] = median_ms(lambda: compiled(*on_device), iterations=50, warmup=10, cuda=cuda)
                engines = compiled.engines
                if engines:
                    one = engines[0]
                    feeds = on_device[:len(one.inputs)]
                    times[label + ": its first engine alone"] = median_ms(lambda: one.run(feeds), iterations=50,
                                                                          warmup=10, cuda=cuda)
                    placed = one.placements(feeds)
                    host = [p.node for p in placed if p.host]
                    section[label + " engines"] = len(engines)
                    section[label + " host nodes"] = host[:20]
                    section[label + " providers"] = sorted({p.provider for p in placed})
            log(f"  batch {batch} {label}: {times[label]:.3f} ms; engines {len(engines)}; host nodes "
                f"{section.get(label + ' host nodes')}")
        except Exception as error:  # noqa: BLE001
            times[label] = f"{type(error).__name__}: {str(error)[:200]}"
            log(f"  batch {batch} {label}: {times[label]}")
    onnx_path = exported(entry, args, work)
    engine_path = work / f"cli-{batch}.engine"
    command = [ember_bin(), "compile", str(onnx_path), "-o", str(engine_path), "--backend", args.backend]
    if args.precision != "fp32":
        command += ["--precision", args.precision]
    built = subprocess.run(command, capture_output=True, text=True)
    if built.returncode == 0:
        try:
            engine = ember.Engine.load(engine_path)
            with torch.inference_mode():
                engine.run(on_device)
                times["CLI engine in Python"] = median_ms(lambda: engine.run(on_device), iterations=50, warmup=10,
                                                          cuda=cuda)
        except Exception as error:  # noqa: BLE001
            times["CLI engine in Python"] = f"{type(error).__name__}: {str(error)[:200]}"
        bench = subprocess.run([ember_bin(), "bench", str(engine_path), "--against", "none", "--batch", str(batch),
                                "--iterations", "50", "--warmup", "10", "--profile"], capture_output=True, text=True)
        rows = bench_rows(bench.stdout)
        times["ember bench"] = rows[batch][0] if batch in rows else (bench.stderr or bench.stdout)[-300:]
        section["bench profile"] = bench.stdout[-3000:]
    else:
        times["CLI engine"] = built.stderr[-300:]
    section["ms"] = times
    log(f"  batch {batch} ms: {json.dumps(times)}")
    if "bench profile" in section:
        log(section["bench profile"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--backend", default="cuda", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "bf16", "tf32"))
    parser.add_argument("--size", default="full", choices=("small", "full"))
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--tolerance", type=float)
    parser.add_argument("--no-bisect", dest="bisect", action="store_false")
    parser.add_argument("--no-errors", dest="errors", action="store_false")
    parser.add_argument("--no-timing", dest="timing", action="store_false")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from bench.zoo import ZOO
    report: dict = {}
    with tempfile.TemporaryDirectory(prefix="ember-diagnose-") as temporary:  # exports and cut models
        root = Path(temporary)
        for name in args.models:
            entry = ZOO[name]
            work = root / name
            work.mkdir(parents=True)
            for batch in args.batch or [1]:
                start = time.perf_counter()
                log(f"{name} batch {batch}")
                try:
                    if args.errors:
                        diagnose_errors(entry, args, batch, work, report)
                    if args.timing:
                        diagnose_speed(entry, args, batch, work, report)
                except Exception as error:  # noqa: BLE001  (one model's failure must not end the run)
                    report.setdefault(name, {})[f"failure {batch}"] = f"{type(error).__name__}: {error}"[:500]
                    log(f"  failed: {error}")
                log(f"  ({time.perf_counter() - start:.0f} s)")
                if args.out:
                    args.out.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
