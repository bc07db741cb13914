"""Ops Ember does not support (an LSTM, `torch.fft.rfft` and the complex tensors it makes) stay in
PyTorch; the supported regions around them become engines; the whole model matches eager.
`ember.explain` reports the plan, and `fallback_ops` and `min_block_size` change it. A region that
Ember cannot build stays in PyTorch, with a warning saying why."""
from __future__ import annotations

import pytest
import torch
from package_helpers import Mixed, assert_tree_close, eager, mixed_input

import ember


def by_op(plan):
    decisions = {}
    for d in plan.decisions:
        decisions.setdefault(d.op, []).append(d)
    return decisions


def test_unsupported_ops_fall_back_and_the_model_matches_eager():
    model = Mixed().eval()
    compiled = ember.compile(model, (mixed_input(2),), dynamic_batch=(1, 8))
    assert len(compiled.engines) >= 2, str(compiled.plan)
    for batch in (2, 3):
        assert_tree_close(compiled(mixed_input(batch)), eager(model, mixed_input(batch)), f"batch {batch}")


def test_explain_shows_the_fallback_with_reasons():
    plan = ember.explain(Mixed().eval(), (mixed_input(),))
    ops = by_op(plan)
    lstm = [d for name, ds in ops.items() if name.startswith("aten.lstm") for d in ds]
    fft = [d for name, ds in ops.items() if name.startswith(("aten.fft_rfft", "aten._fft_r2c")) for d in ds]
    assert lstm and fft, str(plan)
    for d in lstm + fft:
        assert d.runs_on == "pytorch" and "no converter" in d.reason, str(plan)
    (magnitude,) = ops["aten.abs.default"]
    assert magnitude.runs_on == "pytorch" and "complex64" in magnitude.reason
    assert all(d.runs_on == "ember" and d.region for d in ops["aten.linear.default"]), str(plan)
    text = str(plan)
    assert "no converter for aten.lstm" in text and "in PyTorch" in text.splitlines()[0]


def test_fallback_ops_move_listed_ops_to_pytorch():
    model, x = Mixed().eval(), mixed_input()
    default = ember.compile(model, (x,))
    compiled = ember.compile(model, (x,), fallback_ops=["aten.tanh", torch.ops.aten.relu.default])
    ops = by_op(compiled.plan)
    for op in ("aten.tanh.default", "aten.relu.default"):
        assert [d.reason for d in ops[op]] == ["listed in fallback_ops"], str(compiled.plan)
    assert len(compiled.plan.ops("ember")) < len(default.plan.ops("ember"))
    assert_tree_close(compiled(x), eager(model, x))


def test_min_block_size_keeps_small_regions_in_pytorch():
    model, x = Mixed().eval(), mixed_input()
    small = ember.explain(model, (x,))
    sizes = {}
    for d in small.ops("ember"):
        if not d.op.startswith(("_operator.", "aten.sym")):  # bookkeeping, not compute
            sizes[d.region] = sizes.get(d.region, 0) + 1
    threshold = max(sizes.values())
    plan = ember.explain(model, (x,), min_block_size=threshold)
    assert 0 < len(plan.regions) < len(small.regions), f"{small}\n{plan}"
    assert any(f"fewer than min_block_size={threshold}" in d.reason for d in plan.decisions)
    everything = ember.compile(model, (x,), min_block_size=10_000)
    assert not everything.engines and not everything.plan.ops("ember")
    assert_tree_close(everything(x), eager(model, x))


class RollBatch(torch.nn.Module):
    """aten.roll has a converter, but Ember cannot roll along a symbolic dim."""

    def forward(self, x):
        return torch.roll(torch.tanh(x), 1, 0) + 1


def test_a_node_ember_cannot_build_moves_alone_to_pytorch_with_a_warning():
    model, x = RollBatch(), torch.randn(3, 4)
    with pytest.warns(UserWarning, match=r"Ember runs node 'roll' in PyTorch: .*aten.roll"):
        compiled = ember.compile(model, (x,), dynamic_batch=(1, 8))
    roll = next(d for d in compiled.plan.decisions if d.node == "roll")
    assert roll.runs_on == "pytorch" and "could not build" in roll.reason
    assert {d.node for d in compiled.plan.ops("ember")} == {"tanh", "add"}, compiled.plan
    y = torch.randn(5, 4)
    assert_tree_close(compiled(y), eager(model, y))


class DeepWithRoll(torch.nn.Module):
    """Twenty Linear-GELU layers with one roll along the (symbolic) batch in the middle: the
    partitioner thinks the roll is supported, the core refuses it when it builds the region."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(20))

    def forward(self, x):
        for index, layer in enumerate(self.layers):
            x = torch.nn.functional.gelu(layer(x))
            if index == 10:
                x = torch.roll(x, 1, 0)
        return x


def test_one_failing_node_in_a_big_region_keeps_the_rest_in_ember(tmp_path):
    model, x = DeepWithRoll().eval(), torch.randn(3, 8)
    with pytest.warns(UserWarning, match="Ember runs node 'roll' in PyTorch"):
        compiled = ember.compile(model, (x,), dynamic_batch=(1, 8))
    plan = compiled.plan
    assert [d.node for d in plan.ops("pytorch")] == ["roll"], plan
    assert len(plan.ops("ember")) > 0.9 * len(plan.decisions) and len(compiled.engines) == 2, plan
    for batch in (1, 5):
        y = torch.randn(batch, 8)
        assert_tree_close(compiled(y), eager(model, y), f"batch {batch}")
    ember.save(compiled, tmp_path / "model.ember")
    loaded = ember.load(tmp_path / "model.ember")
    assert [d.node for d in loaded.plan.ops("pytorch")] == ["roll"] and len(loaded.engines) == 2
    y = torch.randn(4, 8)
    assert_tree_close(loaded(y), eager(model, y))


class MakesTensors(torch.nn.Module):
    """PyTorch parts that hold a weight and a buffer and make a tensor on the export's device."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.register_buffer("offset", torch.randn(4))

    def forward(self, x):
        y = self.linear(x) + self.offset
        return y * torch.arange(4, dtype=x.dtype, device=x.device)


def test_placing_a_compiled_module_moves_what_its_pytorch_parts_hold():
    # A backend="cuda" module compiled from a model on the CPU runs its PyTorch parts on the GPU:
    # `place` moves them. Checked here by moving to the meta device, which needs no GPU.
    from ember._module import place
    model, x = MakesTensors().eval(), torch.randn(2, 4)
    compiled = ember.compile(model, (x,), fallback_ops=["aten.linear", "aten.add", "aten.mul", "aten.arange"])
    graph = compiled.graph_module
    held = list(graph.parameters()) + list(graph.buffers())
    made = [n for n in graph.graph.nodes if n.op == "call_function" and "device" in n.kwargs]
    assert held and made, graph.code
    shared = {id(p) for p in model.parameters()} & {id(p) for p in graph.parameters()}
    place(graph, torch.device("meta"))
    # The graph held the user's own Parameter objects: moving them in place would move the model.
    assert shared, "the graph no longer shares the model's parameters: this test checks nothing"
    assert not {id(p) for p in model.parameters()} & {id(p) for p in graph.parameters()}
    assert all(t.device.type == "meta" for t in list(graph.parameters()) + list(graph.buffers()))
    assert all(torch.device(n.kwargs["device"]).type == "meta" for n in made), graph.code
    assert next(model.parameters()).device.type == "cpu"  # the user's model stays where it was


class Windows(torch.nn.Module):
    """Splits each row in two (a batch of b becomes 2b rows, as Swin's windows do) around an op
    kept in PyTorch, so the engines after it see sizes derived from the batch."""

    def __init__(self, rejoin: bool):
        super().__init__()
        self.rejoin = rejoin
        self.a, self.b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

    def forward(self, x):
        y = torch.sin(self.a(x.reshape(-1, 4)).relu())
        return self.b(y).reshape(x.shape[0], 8) if self.rejoin else self.b(y) * 2


@pytest.mark.parametrize("rejoin", [True, False], ids=["batch-and-rows", "rows-only"])
def test_engines_after_a_fallback_serve_every_batch_through_derived_sizes(rejoin, recwarn):
    model = Windows(rejoin).eval()
    compiled = ember.compile(model, (torch.randn(2, 8),), dynamic_batch=(1, 16), fallback_ops=["aten.sin"])
    assert not [w for w in recwarn if "Ember" in str(w.message)], [str(w.message) for w in recwarn]
    assert len(compiled.engines) == 2, str(compiled.plan)
    for batch in (1, 3, 16):
        x = torch.randn(batch, 8)
        assert_tree_close(compiled(x), eager(model, x), f"batch {batch}")
