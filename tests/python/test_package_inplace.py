"""In-place ops (`relu_`, `add_` through a view, `dropout_`) are functionalized before import."""
from __future__ import annotations

import pytest
import torch
from package_helpers import assert_tree_close, eager

import ember


class InPlaceThroughViews(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(4, 4)
        self.drop = torch.nn.Dropout(0.5, inplace=True)

    def forward(self, x):
        y = torch.relu(self.fc(x) * 2)
        y.view(-1).add_(1.0)
        z = y.transpose(0, 1)
        z.mul_(3)
        z.relu_()
        y.copy_(y - 0.5)
        w = self.drop(torch.nn.functional.hardswish(y, inplace=True))
        return w + torch.nn.functional.silu(y.clone(), inplace=True)


def in_place_ops(program) -> list[str]:
    return [str(n.target) for n in program.graph.nodes
            if isinstance(n.target, torch._ops.OpOverload) and n.target._schema.name.endswith("_")]


def check(model, x, share=0.95):
    compiled = ember.compile(model, (x,))
    assert not in_place_ops(compiled.program), in_place_ops(compiled.program)
    plan = compiled.plan
    assert len(plan.ops("ember")) >= share * len(plan.decisions), plan
    assert_tree_close(compiled(x), eager(model, x))


def test_in_place_ops_through_views_are_functionalized():
    model, x = InPlaceThroughViews().eval(), torch.randn(3, 4)
    assert in_place_ops(torch.export.export(model, (x,)))  # what torch.export hands over
    check(model, x, share=0.9)  # the functional copy (aten.copy) has no converter yet


def test_an_exported_program_with_in_place_ops_is_functionalized():
    model, x = InPlaceThroughViews().eval(), torch.randn(3, 4)
    compiled = ember.compile(torch.export.export(model, (x,)), (x,))
    assert not in_place_ops(compiled.program)
    assert_tree_close(compiled(x), eager(model, x))


def test_efficientnet_b0_runs_in_ember():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    check(torchvision.models.efficientnet_b0().eval(), torch.randn(1, 3, 64, 64))
