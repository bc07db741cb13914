"""The Python package's CUDA path, checked on a GPU machine: `ember.compile(..., backend="cuda")`
takes and returns CUDA tensors, on PyTorch's current stream, and agrees with PyTorch.

    EMBER_LIBRARY=path/to/libEmberC.so PYTHONPATH=python python3 scripts/gpu-python-check.py
"""
import sys

import torch

import ember


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return torch.softmax(self.fc(self.pool(y).flatten(1)), -1), y


def check(name, got, want, tolerance):
    error = max(float((g.float() - w.float()).abs().max() / w.float().abs().max().clamp_min(1e-30))
                for g, w in zip(got, want))
    devices = {str(g.device) for g in got}
    ok = error <= tolerance and devices == {"cuda:0"}
    print(f"{'pass' if ok else 'FAIL'}  {name}: relative error {error:.2e} (tolerance {tolerance:g}), outputs on {devices}")
    return ok


def main():
    torch.manual_seed(0)
    model = Block().eval().cuda()
    x = torch.randn(4, 3, 32, 32, device="cuda")
    with torch.no_grad():
        want = model(x)
    results = []
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        compiled = ember.compile(model, (x,), backend="cuda", precision=precision)
        with torch.no_grad():
            results.append(check(f"{precision}, default stream", compiled(x), want, tolerance))
            stream = torch.cuda.Stream()
            with torch.cuda.stream(stream):
                x2 = x * 1.0  # made on the side stream: the engine must run after it there
                got = compiled(x2)
            stream.synchronize()
            results.append(check(f"{precision}, a side stream", got, want, tolerance))
    # A model left on the CPU, compiled for the GPU with a part kept in PyTorch: the PyTorch part
    # runs on the GPU too (its weights and the tensors it makes moved there), and CPU inputs are
    # refused by name rather than failing inside PyTorch.
    cpu_model = Block().eval()
    with torch.no_grad():
        want = cpu_model.cuda()(x)
    cpu_model = cpu_model.cpu()
    compiled = ember.compile(cpu_model, (x.cpu(),), backend="cuda", fallback_ops=["aten.convolution"])
    with torch.no_grad():
        results.append(check("CPU model, a convolution in PyTorch, CUDA inputs", compiled(x), want, 1e-4))
    try:
        compiled(x.cpu())
        print("FAIL  CPU inputs to a module compiled for CUDA were not refused")
        results.append(False)
    except ember.EmberError as error:
        ok = "input 0 is on cpu" in str(error)
        print(f"{'pass' if ok else 'FAIL'}  CPU inputs refused: {error}")
        results.append(ok)
    print(f"{sum(results)} of {len(results)} Python CUDA checks passed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
