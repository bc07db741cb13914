"""The compiling half of include/ember.h, from C: a .pt2 archive compiled, saved, reloaded and run
into buffers allocated once the output shape is known; the output matches PyTorch eager."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
from harness import EMBER, REPO, assert_close

LIBRARY_DIR = EMBER.parent


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")
def test_compile_save_and_run_from_c(tmp_path):
    library = LIBRARY_DIR / "libEmberC.so"
    assert library.exists(), f"{library} is missing: `swift build` builds it"
    binary = tmp_path / "compile_check"
    subprocess.run(["cc", "-O1", "-Wall", "-Werror", "-o", binary, REPO / "tests/c/compile_check.c",
                    f"-I{REPO / 'include'}", f"-L{LIBRARY_DIR}", "-lEmberC", f"-Wl,-rpath,{LIBRARY_DIR}"], check=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 12), torch.nn.Tanh(), torch.nn.Linear(12, 5)).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.randn(2, 16),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "m.pt2")
    proc = subprocess.run([binary, tmp_path / "m.pt2", tmp_path / "m.engine", "3", tmp_path / "out.raw"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "backend reference" in proc.stdout or "backend cpu" in proc.stdout, proc.stdout
    raw = (tmp_path / "out.raw").read_bytes()
    rank = int(np.frombuffer(raw[:4], np.int32)[0])
    dims = tuple(np.frombuffer(raw[4:4 + 8 * rank], np.int64))
    assert dims == (3, 5)
    actual = np.frombuffer(raw[4 + 8 * rank:], np.float32).reshape(dims)
    x = (((np.arange(3 * 16) * 7) % 29).astype(np.float32) / np.float32(7) - np.float32(2)).reshape(3, 16)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert_close(actual, expected, 1e-4, what="compiled from C")
