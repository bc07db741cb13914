"""`make demo`: a real torchvision model through Ember, against PyTorch and ONNX Runtime.

Exports ResNet-18 (random weights) with a symbolic batch dim, both to ONNX and as a torch.export
archive; shows how Ember partitions it on the best backend this machine has; checks Ember's outputs
against PyTorch eager; then times Ember side by side with ONNX Runtime and with PyTorch eager
(`ember bench`: warm-up, then the median of many runs, on the same inputs).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision

REPO = Path(__file__).resolve().parents[1]
EMBER = REPO / ".build" / "debug" / "ember"
sys.path.insert(0, str(REPO / "tests" / "python"))
from harness import max_relative_error  # noqa: E402


def ember(*args) -> str:
    proc = subprocess.run([str(EMBER), *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"ember {args[0]} failed: {proc.stderr}")
    return proc.stdout


def main():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        onnx_path, pt2_path = tmp / "resnet18.onnx", tmp / "resnet18.pt2"
        print("exporting torchvision ResNet-18 (random weights) with a symbolic batch: ONNX and torch.export ...")
        torch.onnx.export(model, (x,), str(onnx_path), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        batch = torch.export.Dim("batch", min=1, max=64)
        program = torch.export.export(model, (torch.randn(2, 3, 224, 224),), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(pt2_path))

        print(ember("doctor"))
        report = ember("inspect", onnx_path)
        print("\n".join(line for line in report.splitlines() if not line.startswith("  /")))

        with torch.inference_mode():
            expected = model(x).numpy()
        np.save(tmp / "image.npy", x.numpy())
        ember("run", onnx_path, "--input", tmp / "image.npy", "--output-dir", tmp / "out")
        actual = np.load(tmp / "out" / "logits.npy")
        print(f"Ember vs PyTorch eager, batch 1: max relative error {max_relative_error(actual, expected):.2e}; "
              f"top-1 class agrees: {bool(actual.argmax() == expected.argmax())}\n")

        print("Ember against ONNX Runtime (the ONNX export):")
        print(ember("bench", onnx_path, "--batch", "1", "--batch", "8", "--against", "onnxruntime"))
        print("Ember against PyTorch eager (the torch.export archive):")
        print(ember("bench", pt2_path, "--batch", "1", "--batch", "8", "--against", "torch"))


if __name__ == "__main__":
    main()
