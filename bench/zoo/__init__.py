"""The model zoo Ember is measured on: over forty models from torchvision, timm and transformers,
each built with random weights (nothing is downloaded) at two sizes.

- `full`: the published architecture (ResNet-50 at 224 px, BERT-base at 128 tokens, ...); decoders
  are 12 layers of width 768 (GPT-2 small's size) in each family's own layout, so the CPU can run them.
- `small`: tiny widths, depths and resolutions of the same code, for CI: each runs in well under a
  second on two cores.

    from bench.zoo import ZOO
    entry = ZOO["resnet50"]
    model, inputs = entry.build("small"), entry.inputs("small", batch=2)

Each model's forward returns a tensor or a tuple of tensors (transformers' and torchvision's dict
outputs are unwrapped). `bench/zoo/run.py` times the zoo; `tests/python/test_zoo.py` checks it.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # random weights only: never reach for a hub

import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests" / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "python"))
import models as _test_models  # noqa: E402  (the test suite's ModelCase and exporters)

SIZES = ("small", "full")

#: Relative error against PyTorch eager fp32 (max|a-b| / max|b| over the whole output), per precision.
DEFAULT_TOLERANCE = {"fp32": 1e-3, "fp16": 3e-2, "bf16": 8e-2}


@dataclass
class Entry:
    """One zoo model: how to build it at each size and how to feed it.

    `build(size)` returns the model in eval mode with seeded random weights; `inputs(size, batch)`
    returns its positional inputs (seeded by the batch size). `known_fallbacks` says why the model
    may keep more than 5% of its ops in PyTorch; `known_failure` names the Ember bug it hits today."""
    name: str
    family: str
    builder: Callable[[str], torch.nn.Module]
    make_inputs: Callable[[str, int], tuple[torch.Tensor, ...]]
    input_names: list[str]
    output_names: list[str]
    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    known_fallbacks: str | None = None
    known_failure: str | None = None

    def build(self, size: str) -> torch.nn.Module:
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, not {size!r}")
        torch.manual_seed(0)
        model = self.builder(size)
        calibrate_batch_norms(model, (self.inputs(size, batch) for batch in CALIBRATION_BATCHES))
        return model.eval()

    def inputs(self, size: str, batch: int) -> tuple[torch.Tensor, ...]:
        return self.make_inputs(size, batch)

    def case(self, size: str) -> "_test_models.ModelCase":
        """The test suite's ModelCase for this entry, for `models.export` (symbolic batch only)."""
        return _test_models.ModelCase(lambda: self.build(size), lambda b: self.inputs(size, b),
                                      list(self.input_names), list(self.output_names))


#: The batch sizes (and so the input seeds) whose statistics the batch norms are given.
CALIBRATION_BATCHES = (4, 5, 6)


def calibrate_batch_norms(model: torch.nn.Module, batches) -> None:
    """Gives every batch norm the running statistics of the activations it sees on `batches`.

    Freshly initialized batch norms hold mean 0 and variance 1 whatever their input, so in eval
    mode they pass it through unnormalized: with random weights the activations of a deep CNN then
    shrink layer after layer (MobileNetV2's logits reach 3e-9, EfficientNet-B0's 3e-14), below
    what fp16 can hold, and no fp16 result, PyTorch's own included, resembles fp32's. A trained
    network's norms hold the statistics of its data; this gives random ones the same, as one
    epoch of forward passes would."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [(m, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for inputs in batches:
            model(*inputs)
    for m, momentum in momenta:
        m.momentum = momentum


def ember_bin() -> str:
    """The `ember` executable the zoo's scripts run: $EMBER_BIN, else the debug build."""
    return os.environ.get("EMBER_BIN") or str(REPO / ".build" / "debug" / "ember")


def relative_error(got, want) -> float:
    """max|a-b| / max|b| over all outputs together (the zoo's accuracy measure)."""
    got = got if isinstance(got, (tuple, list)) else (got,)
    want = want if isinstance(want, (tuple, list)) else (want,)
    if len(got) != len(want):
        raise ValueError(f"{len(got)} outputs, expected {len(want)}")
    diff, scale = 0.0, 0.0
    for a, b in zip(got, want):
        a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
        if a.shape != b.shape:
            raise ValueError(f"output shape {tuple(a.shape)}, expected {tuple(b.shape)}")
        diff = max(diff, float((a - b).abs().max()) if a.numel() else 0.0)
        scale = max(scale, float(b.abs().max()) if b.numel() else 0.0)
    return diff / max(scale, 1e-30)


def ember_share(plan) -> tuple[int, int]:
    """(ops in Ember, ops in all) of an `ember.Plan`, counting compute ops only (not getitem or
    shape bookkeeping)."""
    from ember import _plan
    ops = [d for d in plan.decisions if not d.op.startswith(_plan._BOOKKEEPING)]
    return sum(d.runs_on == _plan.EMBER for d in ops), len(ops)


from .catalog import ZOO  # noqa: E402

__all__ = ["ZOO", "Entry", "SIZES", "DEFAULT_TOLERANCE", "relative_error", "ember_share", "ember_bin"]
