"""The package's CUDA backend: on a GPU machine, engines take and return CUDA tensors on PyTorch's
current stream (scripts/gpu-python-check.py, run here when a GPU is present); elsewhere, asking for
it fails with the reason."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

import ember

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device here; scripts/gpu-python-check.py runs these checks on a GPU machine")
def test_cuda_engines_take_and_return_cuda_tensors():
    checks = runpy.run_path(str(ROOT / "scripts" / "gpu-python-check.py"))
    assert checks["main"]() == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
def test_the_cuda_backend_without_a_gpu_leaves_the_model_in_pytorch_and_says_why():
    model, x = torch.nn.Linear(4, 2).eval(), torch.randn(3, 4)
    with pytest.warns(UserWarning, match="libcuda"):
        compiled = ember.compile(model, (x,), backend="cuda")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


def test_narrower_precisions_are_for_the_cuda_backend():
    model = torch.nn.Linear(4, 2).eval()
    with pytest.raises(ember.EmberError, match="fp16.*CUDA backend"):
        ember.compile(model, (torch.randn(3, 4),), backend="cpu", precision="fp16")
