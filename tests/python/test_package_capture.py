"""A compiled module and torch's own capture machinery: tracers, pickling, dynamo's recompiles."""
from __future__ import annotations

import io
import pickle
from unittest import mock

import pytest
import torch
from package_helpers import assert_tree_close, eager

import ember
import ember._dynamo as ember_dynamo


def linear_gelu_linear():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 4))


def test_jit_trace_and_script_of_a_compiled_module_refuse_instead_of_computing_garbage():
    model, x = linear_gelu_linear().eval(), torch.randn(2, 4)
    compiled = ember.compile(model, (x,))
    with torch.no_grad(), pytest.raises(ember.EmberError, match="torch.jit.trace cannot capture"):
        torch.jit.trace(compiled, (x,))
    with pytest.raises(ember.EmberError, match="torch.jit.script cannot capture"):
        torch.jit.script(compiled)
    with pytest.raises(ember.EmberError, match="torch.jit.script cannot capture"):
        torch.jit.script(torch.nn.Sequential(compiled))
    assert_tree_close(compiled(x), eager(model, x))  # still runs afterwards


class Outer(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x) + 1


def test_torch_export_of_a_module_containing_a_compiled_module_refuses():
    model, x = linear_gelu_linear().eval(), torch.randn(2, 4)
    outer = Outer(ember.compile(model, (x,)))
    for strict in (False, True):
        with pytest.raises(Exception) as raised:
            torch.export.export(outer, (x,), strict=strict)
        messages = []
        error = raised.value
        while error is not None:
            messages.append(str(error))
            error = error.__cause__ or error.__context__
        assert any("cannot capture a module compiled by Ember" in m for m in messages), messages[0][:500]


def test_pickling_a_compiled_module_points_to_ember_save():
    model, x = linear_gelu_linear().eval(), torch.randn(2, 4)
    compiled = ember.compile(model, (x,))
    with pytest.raises(ember.EmberError, match="ember.save"):
        pickle.dumps(compiled)
    with pytest.raises(ember.EmberError, match="ember.save"):
        torch.save(compiled, io.BytesIO())
    import copy
    assert_tree_close(copy.deepcopy(compiled)(x), eager(model, x))


def test_compile_keeps_the_users_module_in_its_own_mode():
    model, x = linear_gelu_linear().train(), torch.randn(2, 4)
    compiled = ember.compile(model, (x,))
    assert model.training and all(m.training for m in model.modules())
    assert not compiled.training
    assert_tree_close(compiled(x), eager(model, x))


def test_an_input_structure_mismatch_says_what_was_expected_in_words():
    model, x = linear_gelu_linear().eval(), torch.randn(2, 4)
    compiled = ember.compile(model, (x,))
    with pytest.raises(ember.EmberError, match="expected 1 positional inputs, received 2") as raised:
        compiled(x, x)
    assert "TreeSpec" not in str(raised.value)
    with pytest.raises(ember.EmberError, match=r"expected keyword inputs \(none\), received \(scale\)"):
        compiled(x, scale=x)


def test_dynamo_backend_refuses_when_autograd_would_differentiate():
    model, x = linear_gelu_linear().train(), torch.randn(2, 4)
    torch._dynamo.reset()
    fast = torch.compile(model, backend="ember")
    with pytest.raises(ember.EmberError, match="no gradients"):
        fast(x)
    with torch.no_grad():
        assert_tree_close(fast(x), eager(model, x))


class TinyDecoder(torch.nn.Module):
    """A Llama-style block: RMS norm, causal attention, gated MLP."""

    def __init__(self, width=16, heads=2):
        super().__init__()
        torch.manual_seed(0)
        self.heads = heads
        self.qkv = torch.nn.Linear(width, 3 * width, bias=False)
        self.proj = torch.nn.Linear(width, width, bias=False)
        self.gate = torch.nn.Linear(width, 32, bias=False)
        self.up = torch.nn.Linear(width, 32, bias=False)
        self.down = torch.nn.Linear(32, width, bias=False)

    @staticmethod
    def norm(x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)

    def forward(self, x):
        b, s, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, s, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, s, w))
        h = self.norm(x)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))


def test_dynamo_backend_never_builds_a_shape_twice_across_recompiles():
    model = TinyDecoder().eval()
    builds = []
    real = ember_dynamo._compile.compile

    def counting(graph, args, **kwargs):
        builds.append([tuple(a.shape) for a in args if isinstance(a, torch.Tensor) and a.dim() == 3])
        return real(graph, args, **kwargs)

    torch._dynamo.reset()
    fast = torch.compile(model, backend="ember")
    with mock.patch.object(ember_dynamo._compile, "compile", counting), torch.no_grad():
        for length in (4, 6, 8, 4, 10):
            x = torch.randn(2, length, 16, generator=torch.Generator().manual_seed(length))
            assert_tree_close(fast(x), eager(model, x), f"length {length}")
    assert len(builds) == 4, builds
