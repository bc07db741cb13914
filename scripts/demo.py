"""`make demo`: a real torchvision model through Ember, against PyTorch and ONNX Runtime.

Exports ResNet-18 (random weights) to ONNX with a symbolic batch dim, runs it with `ember run`
on the best backend this machine has, and prints how closely each engine agrees with PyTorch
and how long each took.
"""
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision

REPO = Path(__file__).resolve().parents[1]
EMBER = REPO / ".build" / "debug" / "ember"
sys.path.insert(0, str(REPO / "tests" / "python"))
from harness import max_relative_error  # noqa: E402


def median_ms(fn, repeats=5):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def main():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "resnet18.onnx"
        print("exporting torchvision ResNet-18 (random weights) to ONNX, opset 17, symbolic batch ...")
        torch.onnx.export(model, (x,), str(path), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        print(subprocess.run([EMBER, "inspect", path], capture_output=True, text=True).stdout)

        with torch.inference_mode():
            expected = model(x).numpy()
            torch_ms = median_ms(lambda: model(x))

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        ort_out = session.run(None, {"image": x.numpy()})[0]
        ort_ms = median_ms(lambda: session.run(None, {"image": x.numpy()}))

        np.save(tmp / "image.npy", x.numpy())
        runs = []
        for _ in range(3):
            proc = subprocess.run([EMBER, "run", path, "--input", tmp / "image.npy", "--output-dir", tmp / "out",
                                   "--time"], capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"ember failed: {proc.stderr}")
            runs.append(float(re.search(r"run ([0-9.]+) ms", proc.stdout).group(1)))
        backend = re.search(r"\((\w+) backend\)", proc.stdout).group(1)
        ember_out = np.load(tmp / "out" / "logits.npy")

    print(f"ResNet-18, batch 1, f32, {threads} threads for the peers; median latency")
    print(f"{'engine':<28}{'ms':>10}{'max rel. error vs PyTorch':>28}")
    print(f"{'PyTorch eager':<28}{torch_ms:>10.2f}{0.0:>28.2e}")
    print(f"{'ONNX Runtime':<28}{ort_ms:>10.2f}{max_relative_error(ort_out, expected):>28.2e}")
    print(f"{'Ember (' + backend + ')':<28}{np.median(runs):>10.2f}{max_relative_error(ember_out, expected):>28.2e}")
    print("top-1 class agrees with PyTorch:", bool(ember_out.argmax() == expected.argmax()))


if __name__ == "__main__":
    main()
