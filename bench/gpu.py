"""Ember's CUDA engines against PyTorch on the GPU: ResNet-50, BERT-base and ViT-B/16, fp16 (and
the test suite's other models, MobileNetV2, a GPT-2 and a T5 encoder, by name).

For each model and batch size, in one run on one GPU:
- PyTorch (random weights, fp16, on the GPU): eager, torch.compile (default mode) and
  torch.compile mode="reduce-overhead", median milliseconds over CUDA-event-timed runs.
- Ember: the model exported to ONNX (fp32), compiled with
  `ember compile --backend cuda --precision fp16 --input ...` (the build is timed), timed by
  `ember bench` with inputs and outputs on the GPU, and its outputs (`ember run`) compared with
  PyTorch's in fp32 on the same inputs.
It prints one markdown table and writes it, with the raw numbers, under --out.

    python3 bench/gpu.py --ember PATH/TO/ember [--models resnet50,bert,vit] [--batches 1,32]
        [--peers eager,compile,reduce-overhead] [--out DIR]
"""

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

# The test suite's model definitions: beside this script in the repo, or under the working directory.
for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
    if (root / "tests" / "python" / "models.py").exists():
        sys.path.insert(0, str(root / "tests" / "python"))
        break
import models  # noqa: E402
from cuda_torch_peer import median_ms  # noqa: E402  (beside this script)

SEQUENCE = 128


def cases():
    """name -> (the ONNX model case, the peer's model builder, input names)."""
    from transformers import BertConfig, BertModel

    def bert_peer():
        torch.manual_seed(0)
        config = BertConfig(num_hidden_layers=12)  # PyTorch's fastest attention (SDPA)
        return models._FirstOutputs(BertModel(config).eval(), ["last_hidden_state", "pooler_output"]).eval()

    resnet = models.vision("resnet50")
    vit = models.vision("vit_b_16")
    plain_vit = vit.build

    def vit_build():
        # torchvision starts the classifier at zero, which would make every logit 0 and the
        # accuracy check empty: give it small random weights.
        model = plain_vit()
        generator = torch.Generator().manual_seed(1)
        with torch.no_grad():
            head = model.heads.head
            head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * 0.02)
            head.bias.copy_(torch.randn(head.bias.shape, generator=generator) * 0.02)
        return model

    vit = dataclasses.replace(vit, build=vit_build)
    bert = models.bert(layers=12, seq=SEQUENCE)
    # The rest of the test suite's models, for end-to-end agreement on the GPU.
    others = {"mobilenet_v2": models.vision("mobilenet_v2"), "gpt2": models.gpt2(), "t5": models.t5_encoder()}
    return {
        "resnet50": (resnet, resnet.build),
        "bert": (bert, bert_peer),
        "vit": (vit, vit.build),
    } | {name: (case, case.build) for name, case in others.items()}


def peer_times(build, inputs, modes, iterations):
    model = build().cuda().half()
    args = [t.cuda() for t in inputs]
    args = [a.half() if a.is_floating_point() else a for a in args]
    times = {}
    with torch.inference_mode():
        for mode in modes:
            torch._dynamo.reset()
            if mode == "eager":
                fn = model
            elif mode == "compile":
                fn = torch.compile(model)
            else:
                fn = torch.compile(model, mode="reduce-overhead")
            start = time.time()
            fn(*args)
            torch.cuda.synchronize()
            compile_s = time.time() - start
            times[mode] = median_ms(lambda: fn(*args), iterations, warmup=10)
            print(f"    torch {mode}: {times[mode]:.3f} ms (first call {compile_s:.1f} s)", flush=True)
    return times


def reference_outputs(case, inputs):
    model = case.build().cuda()
    with torch.inference_mode():
        out = model(*[t.cuda() for t in inputs])
    out = out if isinstance(out, tuple) else (out,)
    return [o.float().cpu().numpy() for o in out]


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def ember_point(ember, onnx, case, name, batch, inputs, reference, work, iterations, profile=False, out=None):
    engine = work / f"{name}-b{batch}.engine"
    shapes = [f"{n}={'x'.join(map(str, t.shape))}" for n, t in zip(case.input_names, inputs)]
    command = [ember, "compile", str(onnx), "-o", str(engine), "--backend", "cuda", "--precision", "fp16"]
    for s in shapes:
        command += ["--input", s]
    start = time.time()
    run(command)
    build_s = time.time() - start
    print(f"    ember build: {build_s:.1f} s", flush=True)

    bench = run([ember, "bench", str(engine), "--against", "none", "--iterations", str(iterations),
                 "--warmup", "20", "--batch", str(batch), "--dim", f"sequence={SEQUENCE}"]
                + (["--profile"] if profile else []))
    if profile:
        (out / f"profile-{name}-b{batch}.txt").write_text(bench.stdout)
    row = re.search(r"^\|\s*%d\s*\|\s*([0-9.]+)\s*\|" % batch, bench.stdout, re.M)
    if not row:
        raise RuntimeError(f"no timing in ember bench's output:\n{bench.stdout}")
    ms = float(row.group(1))

    out_dir = work / f"{name}-b{batch}-out"
    command = [ember, "run", str(engine), "--output-dir", str(out_dir)]
    for n, t in zip(case.input_names, inputs):
        path = work / f"{name}-b{batch}-{n}.npy"
        np.save(path, t.numpy())
        command += ["--input", f"{n}={path}"]
    run(command)
    error = 0.0
    for n, ref in zip(case.output_names, reference):
        got = np.load(out_dir / f"{n}.npy").astype(np.float64)
        scale = max(float(np.abs(ref).max()), 1e-30)
        error = max(error, float(np.abs(got - ref).max()) / scale)
    print(f"    ember: {ms:.3f} ms, relative error {error:.2e}", flush=True)
    return {"ms": ms, "build_s": build_s, "relative_error": error}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ember", required=True)
    parser.add_argument("--models", default="resnet50,bert,vit")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--peers", default="eager,compile,reduce-overhead")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--out", default=os.environ.get("OUT", "cuda-bench-out"))
    parser.add_argument("--profile", action="store_true", help="also write Ember's time per step")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "ember-cuda-bench"
    work.mkdir(parents=True, exist_ok=True)
    torch.backends.cudnn.benchmark = True
    peers = [p for p in args.peers.split(",") if p]
    all_cases = cases()
    results = []
    for name in args.models.split(","):
        case, peer_build = all_cases[name]
        onnx = models.export(case, "torchscript", work / name)
        for batch in [int(b) for b in args.batches.split(",")]:
            print(f"{name} batch {batch}", flush=True)
            inputs = case.inputs(batch)
            point = {"model": name, "batch": batch}
            try:
                point["peers"] = peer_times(peer_build, inputs, peers, args.iterations)
            except Exception as error:  # a peer failing is reported, not fatal
                point["peers"] = {}
                point["peer_error"] = str(error)[:500]
                print(f"    torch failed: {error}", flush=True)
            try:
                reference = reference_outputs(case, inputs)
                point["ember"] = ember_point(args.ember, onnx, case, name, batch, inputs, reference, work,
                                             args.iterations, args.profile, out)
            except Exception as error:
                point["ember_error"] = str(error)[-2000:]
                print(f"    ember failed: {error}", flush=True)
            results.append(point)
            torch.cuda.empty_cache()

    device = torch.cuda.get_device_name()
    lines = [f"device: {device}, torch {torch.__version__}, fp16, random weights, median ms",
             "", "| model | batch | " + " | ".join(f"torch {p}" for p in peers)
             + " | ember | vs fastest peer | ember rel. error | ember build s |",
             "| --- | --- | " + " | ".join("---" for _ in peers) + " | --- | --- | --- | --- |"]
    for p in results:
        cells = [f"{p['peers'][m]:.3f}" if m in p["peers"] else "-" for m in peers]
        e = p.get("ember")
        fastest = min(p["peers"].values()) if p["peers"] else float("nan")
        ember = f"{e['ms']:.3f}" if e else "failed"
        speed = f"{fastest / e['ms']:.2f}x" if e else "-"
        error = f"{e['relative_error']:.1e}" if e else "-"
        build = f"{e['build_s']:.1f}" if e else "-"
        lines.append(f"| {p['model']} | {p['batch']} | " + " | ".join(cells) + f" | {ember} | {speed} | {error} | {build} |")
    table = "\n".join(lines)
    print(table)
    (out / "cuda-bench.md").write_text(table + "\n")
    (out / "cuda-bench.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
