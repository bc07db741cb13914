"""The CPU benchmark: Ember's CPU backend against ONNX Runtime and PyTorch eager, side by side.

Exports ResNet-50, MobileNetV2 and BERT-base (random weights; BERT at sequence length 128) with
a symbolic batch, then runs `ember bench` on each at batch 1 and 8: once against ONNX Runtime on
the ONNX export (2 intra-op threads, all graph optimizations), once against PyTorch eager on the
torch.export archive. Prints one table and writes it to bench/results/DATE-cpu-HOST.md.

    python3 bench/cpu.py [--ember .build/release/ember] [--models resnet50,mobilenet_v2,bert]
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
import models  # noqa: E402

CASES = {
    "resnet50": lambda: models.vision("resnet50"),
    "mobilenet_v2": lambda: models.vision("mobilenet_v2"),
    "bert": lambda: models.bert(layers=12, seq=128),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def sequence_dims(ember: Path, model: Path) -> list[str]:
    """`--dim NAME=128` for every symbolic dim after the batch (exporters name them differently)."""
    report = json.loads(subprocess.run([str(ember), "inspect", "--json", str(model)], capture_output=True,
                                       text=True, check=True).stdout)
    names = {dim for port in report["inputs"] for dim in (port.get("shape") or [])[1:] if isinstance(dim, str)}
    return [arg for name in sorted(names) for arg in ("--dim", f"{name}=128")]


def run_bench(ember: Path, model: Path, peer: str, batches: list[int], threads: int) -> list[dict]:
    command = [str(ember), "bench", str(model), "--against", peer, "--iterations", "20", "--warmup", "3",
               *sequence_dims(ember, model)]
    for b in batches:
        command += ["--batch", str(b)]
    env = dict(os.environ, EMBER_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"ember bench failed:\n{result.stderr}")
    rows = []
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].isdigit():
            rows.append({"batch": int(cells[0]), "ember": float(cells[1]), "peer": float(cells[2]),
                         "diff": cells[5]})
    peak = re.search(r"peak memory: ember (\d+) MB, \S+ (\d+) MB", result.stdout)
    for row in rows:
        row["ember_mb"], row["peer_mb"] = (int(peak.group(1)), int(peak.group(2))) if peak else (None, None)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ember", type=Path, default=REPO / ".build" / "release" / "ember")
    parser.add_argument("--models", default=",".join(CASES))
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]

    lines = [f"# CPU benchmark, {datetime.date.today()}, {cpu_name()}, {args.threads} threads", "",
             "Median ms of 20 runs after 3 warm-up runs; f32; random weights and inputs. Peak memory is",
             "each process's peak resident set (Ember: compile and runs; peers: Python, load and runs).", "",
             "| model | batch | Ember ms | ONNX Runtime ms | vs ORT | PyTorch ms | vs PyTorch | max rel diff (ORT) | peak MB Ember / ORT |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            case = CASES[name]()
            directory = Path(tmp) / name
            print(f"exporting {name} ...", flush=True)
            onnx = models.export(case, "torchscript", directory / "onnx")
            pt2 = models.export_pt2(case, directory / "pt2")
            ort_rows = run_bench(args.ember, onnx, "onnxruntime", batches, args.threads)
            torch_rows = run_bench(args.ember, pt2, "torch", batches, args.threads)
            for o, t in zip(ort_rows, torch_rows):
                lines.append(
                    f"| {name} | {o['batch']} | {o['ember']:.2f} | {o['peer']:.2f} | {o['peer'] / o['ember']:.2f}x | "
                    f"{t['peer']:.2f} | {t['peer'] / t['ember']:.2f}x | {o['diff']} | {o['ember_mb']} / {o['peer_mb']} |")
                print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    out = REPO / "bench" / "results" / f"{datetime.date.today()}-cpu-{platform.node() or 'host'}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
