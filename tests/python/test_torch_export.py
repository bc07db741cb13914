"""`torch.export.save` archives (.pt2) run natively: `ember run model.pt2` agrees with PyTorch eager.

Each model is exported once with a symbolic batch (and sequence, for the transformers), saved as
exported and after `run_decompositions()` (the core ATen op set), then run at the exported batch
and at another batch in its range. Outputs must agree within 1e-4 of the largest reference magnitude.
A damaged archive must give a clear error and exit code 1, never a crash.
"""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from harness import assert_close, ember, output_file_name
from models import bert, export_pt2, gpt2, vision

MODELS = {
    "resnet50": lambda: vision("resnet50"),
    "mobilenet_v3_small": lambda: vision("mobilenet_v3_small"),
    "vit_b_16": lambda: vision("vit_b_16"),
    "swin_t": lambda: vision("swin_t"),
    "bert": lambda: bert(layers=2, seq=32),
    "gpt2": lambda: gpt2(layers=2, seq=32),
}


def describe(path):
    proc = ember("inspect", "--json", "-O0", path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def run_pt2(path, feeds, directory):
    """Runs `ember run` with inputs by position (the archive's user input names); outputs in order."""
    report = describe(path)
    directory.mkdir(parents=True, exist_ok=True)
    names = [p["name"] for p in report["inputs"]]
    args = ["run", str(path), "--output-dir", str(directory / "out")]
    for i, (name, value) in enumerate(zip(names, feeds)):
        np.save(directory / f"in{i}.npy", value)
        args += ["--input", f"{name}={directory / f'in{i}.npy'}"]
    proc = ember(*args)
    assert proc.returncode == 0, proc.stderr
    return [np.load(directory / "out" / output_file_name(p["name"])) for p in report["outputs"]]


@pytest.mark.parametrize("decompose", [False, True], ids=["exported", "decomposed"])
@pytest.mark.parametrize("name", list(MODELS))
def test_pt2_matches_pytorch(name, decompose, tmp_path):
    case = MODELS[name]()
    path = export_pt2(case, tmp_path / "model", decompose)
    report = describe(path)
    assert report["format"] == "pt2"
    assert report["symbols"], "the symbolic batch and its range are reported"
    model = case.build()
    for batch in (2, 3):
        inputs = case.inputs(batch)
        with torch.inference_mode():
            out = model(*inputs)
        expected = [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
        actual = run_pt2(path, [t.numpy() for t in inputs], tmp_path / f"run{batch}")
        assert len(actual) == len(expected)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e.astype(a.dtype, copy=False), 1e-4,
                         what=f"{name} ({'decomposed' if decompose else 'exported'}) batch {batch} output {i}")


class _Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_damaged_archives_fail_cleanly(tmp_path):
    torch.manual_seed(0)
    program = torch.export.export(_Small().eval(), (torch.randn(2, 3, 8, 8),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=8)},))
    good = tmp_path / "good.pt2"
    torch.export.save(program, str(good))
    data = good.read_bytes()
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 3, 8, 8), dtype=np.float32))
    rng = random.Random(0)
    damaged = tmp_path / "damaged.pt2"
    for trial in range(40):
        mutated = bytearray(data)
        if trial % 4 == 0:
            mutated = mutated[: rng.randrange(len(mutated))]
        else:
            for _ in range(rng.randrange(1, 16)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        damaged.write_bytes(bytes(mutated))
        for args in (["inspect", damaged], ["run", damaged, "--input", f"x={tmp_path / 'x.npy'}",
                                             "--output-dir", tmp_path / "out"]):
            proc = ember(*args, timeout=120)
            assert proc.returncode in (0, 1), f"trial {trial}: exit {proc.returncode}: {proc.stderr[-2000:]}"
            if proc.returncode == 1:
                assert proc.stderr.startswith("error:"), proc.stderr
