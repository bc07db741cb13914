"""Helpers for the `ember` package tests: compare whole output structures with PyTorch eager."""
from __future__ import annotations

import torch
from harness import assert_close
from torch.utils import _pytree as pytree

RTOL = 1e-4  # f32: maximum error relative to the largest reference magnitude


def eager(model, *args, **kwargs):
    """The reference: the model in eval mode, without autograd."""
    with torch.no_grad():
        return model(*args, **kwargs)


def assert_tree_close(actual, expected, what: str = "output") -> None:
    """Same structure (tuples, lists, dicts, nesting), every tensor within RTOL, other leaves equal."""
    actual_leaves, actual_spec = pytree.tree_flatten(actual)
    expected_leaves, expected_spec = pytree.tree_flatten(expected)
    assert actual_spec == expected_spec, f"{what}: structure {actual_spec}, expected {expected_spec}"
    for i, (a, e) in enumerate(zip(actual_leaves, expected_leaves)):
        if isinstance(e, torch.Tensor):
            assert isinstance(a, torch.Tensor), f"{what} leaf {i}: {type(a).__name__}, expected a tensor"
            assert_close(a.detach().numpy(), e.detach().numpy(), RTOL, what=f"{what} leaf {i}")
        else:
            assert a == e, f"{what} leaf {i}: {a!r}, expected {e!r}"


class Mixed(torch.nn.Module):
    """Ops Ember supports around two it does not: an LSTM and a real FFT (complex tensors)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inp = torch.nn.Linear(8, 16)
        self.lstm = torch.nn.LSTM(16, 16, batch_first=True)
        self.mid = torch.nn.Linear(16, 16)
        self.out = torch.nn.Linear(9, 4)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h, _ = self.lstm(h)
        h = torch.tanh(self.mid(h))
        magnitude = torch.fft.rfft(h, dim=-1).abs()
        return self.out(magnitude).sum(dim=1)


def mixed_input(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 10, 8, generator=torch.Generator().manual_seed(batch))


class Structured(torch.nn.Module):
    """Two positional inputs and a keyword input; a nested dict/list/tuple of outputs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(6, 5)
        self.b = torch.nn.Linear(6, 5)

    def forward(self, x, y, scale=None):
        h = torch.sigmoid(self.a(x)) * self.b(y)
        if scale is not None:
            h = h * scale
        return {"sum": h + 1, "parts": [h.relu(), (h.exp(), x.mean(dim=1))]}


def structured_inputs(batch: int = 3):
    g = torch.Generator().manual_seed(batch)
    return torch.randn(batch, 6, generator=g), torch.randn(batch, 6, generator=g), torch.rand(batch, 5, generator=g)
