"""Models the tests export from PyTorch, with random weights, and how to feed them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass
class ModelCase:
    """A PyTorch model, a function making its inputs for a batch size, and its input/output names."""
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[int], tuple[torch.Tensor, ...]]
    input_names: list[str]
    output_names: list[str]
    # Input dims other than the batch that are symbolic too: {input index: {dim: name}}.
    extra_dynamic: dict[int, dict[int, str]] | None = None


def image(size: int = 224) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(batch: int) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(batch)
        return (torch.randn(batch, 3, size, size, generator=g),)
    return make


def vision(name: str, size: int = 224, **kwargs) -> ModelCase:
    import torchvision

    def build():
        torch.manual_seed(0)
        return getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    return ModelCase(build, image(size), ["image"], ["logits"])


class _FirstOutputs(torch.nn.Module):
    """Wraps a transformers model so it returns a plain tuple of tensors."""

    def __init__(self, model, keys):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, input_ids, attention_mask):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return tuple(out[k] for k in self.keys)


def token_inputs(seq: int, vocab: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(batch: int) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(batch)
        ids = torch.randint(0, vocab, (batch, seq), generator=g)
        mask = torch.ones(batch, seq, dtype=torch.int64)
        if batch > 1:
            mask[1:, seq - seq // 4:] = 0  # padding in all but the first sequence
        return ids, mask
    return make


def bert(layers: int = 12, seq: int = 64) -> ModelCase:
    from transformers import BertConfig, BertModel

    def build():
        torch.manual_seed(0)
        config = BertConfig(num_hidden_layers=layers, attn_implementation="eager")
        return _FirstOutputs(BertModel(config).eval(), ["last_hidden_state", "pooler_output"]).eval()
    return ModelCase(build, token_inputs(seq, 30522), ["input_ids", "attention_mask"],
                     ["last_hidden_state", "pooler_output"], {0: {1: "sequence"}, 1: {1: "sequence"}})


def gpt2(layers: int = 2, seq: int = 32) -> ModelCase:
    from transformers import GPT2Config, GPT2Model

    def build():
        torch.manual_seed(0)
        config = GPT2Config(n_layer=layers, n_embd=256, n_head=4, attn_implementation="eager")
        return _FirstOutputs(GPT2Model(config).eval(), ["last_hidden_state"]).eval()
    return ModelCase(build, token_inputs(seq, 50257), ["input_ids", "attention_mask"], ["last_hidden_state"],
                     {0: {1: "sequence"}, 1: {1: "sequence"}})


def t5_encoder(layers: int = 2, seq: int = 32) -> ModelCase:
    """A T5 encoder: RMS norms and a learned relative position bias added to every attention."""
    from transformers import T5Config, T5EncoderModel

    def build():
        torch.manual_seed(0)
        config = T5Config(d_model=128, d_kv=32, d_ff=256, num_layers=layers, num_heads=4,
                          attn_implementation="eager")
        return _FirstOutputs(T5EncoderModel(config).eval(), ["last_hidden_state"]).eval()
    return ModelCase(build, token_inputs(seq, 32128), ["input_ids", "attention_mask"], ["last_hidden_state"],
                     {0: {1: "sequence"}, 1: {1: "sequence"}})


def export(case: ModelCase, exporter: str, directory: Path, keep_batch_norm: bool = False,
           static: bool = False) -> Path:
    """Exports with a symbolic batch dim: `torchscript` (opset 17) or `dynamo` (opset 18, external data).
    With `keep_batch_norm`, the TorchScript exporter leaves batch norms in the graph unfolded;
    with `static`, every dim is fixed at the example's (batch 2)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.onnx"
    model = case.build()
    example = case.inputs(2)  # batch 2: torch.export specializes size-1 dims
    if exporter == "torchscript":
        axes = {name: {0: "batch"} for name in case.input_names + case.output_names}
        for index, dims in (case.extra_dynamic or {}).items():
            axes[case.input_names[index]].update(dims)
        extra = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False} if keep_batch_norm else {}
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=17,
                          input_names=case.input_names, output_names=case.output_names,
                          dynamic_axes=None if static else axes, **extra)
    else:
        batch = torch.export.Dim("batch", min=1, max=64)
        shapes = []
        for index, _ in enumerate(case.input_names):
            dims = {0: batch}
            for dim, name in (case.extra_dynamic or {}).get(index, {}).items():
                dims[dim] = torch.export.Dim(name, min=2, max=512)
            shapes.append(dims)
        torch.onnx.export(model, example, str(path), dynamo=True, opset_version=18, external_data=True,
                          input_names=case.input_names, output_names=case.output_names,
                          dynamic_shapes=None if static else tuple(shapes), verbose=False)
    return path


def export_pt2(case: ModelCase, directory: Path, decompose: bool = False) -> Path:
    """Exports with `torch.export` (symbolic batch, and the case's other dynamic dims) and saves a
    `.pt2` archive; with `decompose`, after `run_decompositions()` (the core ATen op set)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.pt2"
    model = case.build()
    batch = torch.export.Dim("batch", min=1, max=64)
    shapes = []
    for index, _ in enumerate(case.input_names):
        dims = {0: batch}
        for dim, name in (case.extra_dynamic or {}).get(index, {}).items():
            dims[dim] = torch.export.Dim(name, min=2, max=512)
        shapes.append(dims)
    with torch.no_grad():
        program = torch.export.export(model, case.inputs(2), dynamic_shapes=tuple(shapes))
    if decompose:
        program = program.run_decompositions()
    torch.export.save(program, str(path))
    return path
