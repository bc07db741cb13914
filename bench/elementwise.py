"""Elementwise-bound graphs on the CPU: Ember against ONNX Runtime, side by side in one run.

Each case is a small ONNX model of activations a transformer or CNN spends its memory traffic
on (bias + GELU, SiLU, hard-swish, a residual add and ReLU, ...) over [batch, 128, 3072] f32
tensors, with a symbolic batch. `ember bench` runs each at the given batches against ONNX
Runtime. `--baseline OTHER_EMBER` adds the same cases on another Ember build, to show that a
change to the elementwise code costs nothing. Prints one table and writes it to
bench/results/DATE-elementwise-cpu-HOST.md.

    python3 bench/elementwise.py [--ember .build/release/ember] [--baseline /tmp/ember-old] [--batches 1,8]
"""
import argparse
import datetime
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import cpu_name  # noqa: E402

SHAPE = ["batch", 128, 3072]


def node(op, inputs, output, **attrs):
    return helper.make_node(op, inputs, [output], **attrs)


def cases() -> dict[str, tuple[list, list[str], list]]:
    """name: (nodes, graph inputs, initializers); every graph's output is `y`."""
    bias = helper.make_tensor("b", TensorProto.FLOAT, [3072], np.random.default_rng(0).random(3072, np.float32))
    return {
        "gelu": ([node("Gelu", ["x"], "y")], ["x"], []),
        "bias + gelu": ([node("Add", ["x", "b"], "t"), node("Gelu", ["t"], "y")], ["x"], [bias]),
        "gelu (tanh)": ([node("Gelu", ["x"], "y", approximate="tanh")], ["x"], []),
        "silu": ([node("Sigmoid", ["x"], "s"), node("Mul", ["x", "s"], "y")], ["x"], []),
        "hard_swish": ([node("HardSwish", ["x"], "y")], ["x"], []),
        "leaky_relu": ([node("LeakyRelu", ["x"], "y", alpha=0.1)], ["x"], []),
        "add + relu": ([node("Add", ["x", "z"], "t"), node("Relu", ["t"], "y")], ["x", "z"], []),
        "mish": ([node("Mish", ["x"], "y")], ["x"], []),
        "softsign": ([node("Softsign", ["x"], "y")], ["x"], []),
    }


def write_model(path: Path, nodes, inputs, initializers):
    graph = helper.make_graph(
        nodes, path.stem, [helper.make_tensor_value_info(n, TensorProto.FLOAT, SHAPE) for n in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, str(path))


ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|")


def bench(ember: str, model: Path, batches: list[int], iterations: int) -> dict[int, tuple[float, float]]:
    """Per batch: (ember ms, onnxruntime ms), medians of `ember bench`."""
    args = [ember, "bench", str(model), "--against", "onnxruntime", "--iterations", str(iterations)]
    for b in batches:
        args += ["--batch", str(b)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            rows[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ember", default=str(REPO / ".build/release/ember"))
    parser.add_argument("--baseline", help="another ember binary to run the same cases on")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    header = "| case | batch | ember ms | onnxruntime ms | speedup |"
    rule = "| --- | --- | --- | --- | --- |"
    if args.baseline:
        header += " baseline ember ms |"
        rule += " --- |"
    lines = [header, rule]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (nodes, inputs, initializers) in cases().items():
            path = Path(tmp) / (re.sub(r"[^a-z0-9]+", "_", name) + ".onnx")
            write_model(path, nodes, inputs, initializers)
            rows = bench(args.ember, path, batches, args.iterations)
            base = bench(args.baseline, path, batches, args.iterations) if args.baseline else {}
            for b in batches:
                ember_ms, ort_ms = rows[b]
                line = f"| {name} | {b} | {ember_ms:.2f} | {ort_ms:.2f} | {ort_ms / ember_ms:.2f}x |"
                if args.baseline:
                    line += f" {base[b][0]:.2f} |"
                lines.append(line)
                print(line, flush=True)
    table = "\n".join(lines)
    date = datetime.date.today().isoformat()
    host = platform.node() or "host"
    out = REPO / "bench" / "results" / f"{date}-elementwise-cpu-{host}.md"
    out.write_text(
        f"# Elementwise-bound graphs on the CPU, {date}\n\n"
        f"{cpu_name()}; [batch, 128, 3072] f32; `ember bench` medians of {args.iterations} runs, "
        f"ONNX Runtime with 2 intra-op threads in the same run.\n\n{table}\n")
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
