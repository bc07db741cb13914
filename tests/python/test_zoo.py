"""Every model of the zoo (bench/zoo) in its small config, on the CPU backend, against PyTorch eager fp32.

Two paths per model, each at batch sizes 1 and 2 from one build with a symbolic batch:
- `ember.compile(model, example, dynamic_batch=(1, 2))`, whose plan must keep at least 95% of the
  compute ops in Ember (unless the zoo entry says why not, in `known_fallbacks`);
- the model's ONNX export (one per model) compiled by `ember compile` and run by `ember run` on .npy inputs.
The error is max|a-b| / max|b| over all outputs, within the entry's fp32 tolerance.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import models as test_models
from harness import ember, output_file_name

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.zoo import ZOO, ember_share, relative_error  # noqa: E402

ember_py = pytest.importorskip("ember")

BATCHES = (1, 2)
MIN_SHARE = 0.95

# Models that fail today for an Ember bug, by path. strict: the test flips when the bug is fixed.
KNOWN_BUGS: dict[str, dict[str, str]] = {
    "python": {
        "vgg11_bn": "ember.compile's plan keeps every op in PyTorch (0% in Ember; aten.dropout among them)",
        "deberta_v2": "ember.compile's plan keeps every op in PyTorch (0% in Ember; aten.sign, aten.log, aten.ceil among them)",
    },
    "cli": {
        "vgg11_bn": "torch.onnx.export (TorchScript) refuses adaptive_avg_pool2d to 7x7 from the small config's 8x8 map",
    },
}


def cases(path: str):
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[path][name]))
            if name in KNOWN_BUGS[path] else name for name in ZOO]


class Prepared:
    """One model built once for the module: its inputs, PyTorch eager's outputs, its ONNX export."""

    def __init__(self, name: str, directory):
        self.entry = ZOO[name]
        self.model = self.entry.build("small")
        self.inputs = {b: self.entry.inputs("small", b) for b in BATCHES}
        with torch.inference_mode():
            self.reference = {b: as_tuple(self.model(*self.inputs[b])) for b in BATCHES}
        self.directory = directory
        self._onnx = None

    @property
    def onnx(self):
        if self._onnx is None:
            self._onnx = test_models.export(self.entry.case("small"), "torchscript", self.directory / "onnx")
        return self._onnx


def as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    torch.set_num_threads(2)
    built: dict[str, Prepared] = {}

    def get(name: str) -> Prepared:
        if name not in built:
            built[name] = Prepared(name, tmp_path_factory.mktemp(name))
        return built[name]
    return get


@pytest.mark.parametrize("name", cases("python"))
def test_zoo_model_through_ember_compile(zoo, name):
    model = zoo(name)
    tolerance = model.entry.tolerance["fp32"]
    compiled = ember_py.compile(model.model, model.inputs[2], backend="cpu", dynamic_batch=(1, max(BATCHES)))
    in_ember, total = ember_share(compiled.plan)
    share = in_ember / max(total, 1)
    fallback = sorted({d.op for d in compiled.plan.ops("pytorch")})
    print(f"{name}: {in_ember}/{total} ops in Ember ({share:.0%})" + (f"; in PyTorch: {fallback}" if fallback else ""))
    for b in BATCHES:
        with torch.inference_mode():
            got = as_tuple(compiled(*model.inputs[b]))
        error = relative_error(got, model.reference[b])
        print(f"{name} batch {b}: relative error {error:.2e}")
        assert error <= tolerance, f"{name} batch {b}: relative error {error:.2e} > {tolerance:.0e}"
    if model.entry.known_fallbacks is None:
        assert share >= MIN_SHARE, f"{name}: only {share:.0%} of its ops run in Ember ({fallback})"


@pytest.mark.parametrize("name", cases("cli"))
def test_zoo_model_through_the_cli(zoo, name):
    model = zoo(name)
    tolerance = model.entry.tolerance["fp32"]
    work = model.directory / "cli"
    work.mkdir(exist_ok=True)
    engine = work / "model.engine"
    built = ember("compile", model.onnx, "-o", engine, "--backend", "cpu")
    assert built.returncode == 0, f"ember compile failed: {built.stderr.strip()}"
    for b in BATCHES:
        args = ["run", engine, "--output-dir", work / f"out{b}"]
        for input_name, tensor in zip(model.entry.input_names, model.inputs[b]):
            np.save(work / f"{input_name}-{b}.npy", tensor.numpy())
            args += ["--input", f"{input_name}={work / f'{input_name}-{b}.npy'}"]
        ran = ember(*args)
        assert ran.returncode == 0, f"ember run failed at batch {b}: {ran.stderr.strip()}"
        got = [torch.from_numpy(np.load(work / f"out{b}" / output_file_name(n))) for n in model.entry.output_names]
        error = relative_error(got, model.reference[b])
        print(f"{name} batch {b} (CLI): relative error {error:.2e}")
        assert error <= tolerance, f"{name} batch {b} (CLI): relative error {error:.2e} > {tolerance:.0e}"
