"""Whole models through `ember.compile` against PyTorch eager: torchvision (random weights) and
transformers (small configs), at the example batch and, with `dynamic_batch`, at another batch
served by the same engine. Every op of these models runs in Ember: one engine, no fallback."""
from __future__ import annotations

import pytest
import torch
from models import bert, gpt2
from package_helpers import assert_tree_close, eager

import ember


def torchvision_model(name, **kwargs):
    import torchvision
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kwargs).eval()


def small_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=64,
                             mlp_dim=128, num_classes=10).eval()


def images(size):
    return lambda batch: (torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch)),)


VISION = {
    "resnet18": (lambda: torchvision_model("resnet18"), images(64)),
    "resnet50": (lambda: torchvision_model("resnet50"), images(64)),
    "mobilenet_v3_small": (lambda: torchvision_model("mobilenet_v3_small"), images(64)),
    "vit_small": (small_vit, images(32)),
}


@pytest.mark.parametrize("name, backend", [
    *[(name, "auto") for name in VISION],
    ("mobilenet_v3_small", "reference"),
])
def test_vision_model_matches_eager_at_two_batches(name, backend):
    build, inputs = VISION[name]
    model = build()
    compiled = ember.compile(model, inputs(2), backend=backend, dynamic_batch=(1, 8))
    assert len(compiled.engines) == 1 and not compiled.plan.ops("pytorch"), str(compiled.plan)
    for batch in (2, 3):
        assert_tree_close(compiled(*inputs(batch)), eager(model, *inputs(batch)), f"{name} batch {batch}")


@pytest.mark.parametrize("case", [lambda: bert(layers=2, seq=16), lambda: gpt2(layers=2, seq=16)], ids=["bert", "gpt2"])
def test_transformer_matches_eager_at_two_batches(case):
    case = case()
    model = case.build()
    compiled = ember.compile(model, case.inputs(2), dynamic_batch=(1, 8))
    assert len(compiled.engines) == 1, str(compiled.plan)
    for batch in (2, 3):
        assert_tree_close(compiled(*case.inputs(batch)), eager(model, *case.inputs(batch)), f"batch {batch}")


def test_static_shapes_without_dynamic_batch():
    build, inputs = VISION["resnet18"]
    model = build()
    compiled = ember.compile(model, inputs(1))
    assert_tree_close(compiled(*inputs(1)), eager(model, *inputs(1)))
    with pytest.raises(ember.EmberError, match=r"input 0 has shape \(2, 3, 64, 64\), expected \(1, 3, 64, 64\)"):
        compiled(*inputs(2))


def test_example_batch_of_one_with_dynamic_batch():
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).eval()
    x = lambda b: torch.randn(b, 8, generator=torch.Generator().manual_seed(b))  # noqa: E731
    compiled = ember.compile(model, (x(1),), dynamic_batch=(1, 16))
    for batch in (1, 5, 16):
        assert_tree_close(compiled(x(batch)), eager(model, x(batch)), f"batch {batch}")
    with pytest.raises(ember.EmberError, match="with batch in 1..16"):
        compiled(x(17))
