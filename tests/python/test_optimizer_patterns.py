"""The -O2 pipeline recognizes what exporters decompose, on real exports, without changing results.

Each model is exported with random weights (small transformer configs), by the TorchScript
exporter (opset 17; transformers models both with eager attention and with the default sdpa) and
by torch.export (opset 18). After -O2 there must be no batch norm, no softmax outside attention,
and none of the ops the norm and GELU decompositions leave (erf, reduce_mean, pow, sqrt); and
`ember run -O2` must give the outputs of `ember run -O0`.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from harness import assert_close, ember, output_file_name
from models import ModelCase, _FirstOutputs, export, token_inputs, vision

# What the norm, GELU and softmax decompositions leave; CNNs keep reduce_mean for global pooling.
LEFTOVERS = ["batch_norm", "softmax", "erf", "reduce_mean", "pow", "sqrt"]
CNN_LEFTOVERS = ["batch_norm", "softmax"]


def bert(attn: str) -> ModelCase:
    from transformers import BertConfig, BertModel

    def build():
        torch.manual_seed(0)
        config = BertConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4, intermediate_size=256,
                            attn_implementation=attn)
        return _FirstOutputs(BertModel(config).eval(), ["last_hidden_state", "pooler_output"]).eval()
    return ModelCase(build, token_inputs(16, 30522), ["input_ids", "attention_mask"],
                     ["last_hidden_state", "pooler_output"], {0: {1: "sequence"}, 1: {1: "sequence"}})


def gpt2(attn: str) -> ModelCase:
    from transformers import GPT2Config, GPT2Model

    def build():
        torch.manual_seed(0)
        config = GPT2Config(n_layer=2, n_embd=128, n_head=4, attn_implementation=attn)
        return _FirstOutputs(GPT2Model(config).eval(), ["last_hidden_state"]).eval()
    return ModelCase(build, token_inputs(16, 50257), ["input_ids", "attention_mask"], ["last_hidden_state"],
                     {0: {1: "sequence"}, 1: {1: "sequence"}})


def t5(attn: str) -> ModelCase:
    """T5's encoder: RMS norm, relative position bias added to the scores, no scaling."""
    from transformers import T5Config, T5EncoderModel

    def build():
        torch.manual_seed(0)
        config = T5Config(num_layers=2, d_model=128, d_kv=32, num_heads=4, d_ff=256, vocab_size=1000,
                          attn_implementation=attn)
        return _FirstOutputs(T5EncoderModel(config).eval(), ["last_hidden_state"]).eval()
    return ModelCase(build, token_inputs(16, 1000), ["input_ids", "attention_mask"], ["last_hidden_state"],
                     {0: {1: "sequence"}, 1: {1: "sequence"}})


# name: (model case, exporter, batch to run at)
CASES = {
    "bert-eager-torchscript": (lambda: bert("eager"), "torchscript", 2),
    "bert-sdpa-torchscript": (lambda: bert("sdpa"), "torchscript", 2),
    "bert-eager-dynamo": (lambda: bert("eager"), "dynamo", 2),
    "bert-sdpa-dynamo": (lambda: bert("sdpa"), "dynamo", 2),
    "gpt2-eager-torchscript": (lambda: gpt2("eager"), "torchscript", 2),
    "gpt2-sdpa-torchscript": (lambda: gpt2("sdpa"), "torchscript", 2),
    "gpt2-eager-dynamo": (lambda: gpt2("eager"), "dynamo", 2),
    "gpt2-sdpa-dynamo": (lambda: gpt2("sdpa"), "dynamo", 2),
    "t5-eager-torchscript": (lambda: t5("eager"), "torchscript", 2),
    "t5-sdpa-torchscript": (lambda: t5("sdpa"), "torchscript", 2),
    "t5-eager-dynamo": (lambda: t5("eager"), "dynamo", 2),
    "vit_b_16-torchscript": (lambda: vision("vit_b_16"), "torchscript", 1),
    "vit_b_16-dynamo": (lambda: vision("vit_b_16"), "dynamo", 1),
    "resnet50-bn-torchscript": (lambda: vision("resnet50"), "torchscript-bn", 1),
    "resnet50-dynamo": (lambda: vision("resnet50"), "dynamo", 1),
}


@pytest.fixture(scope="module")
def exported(module_tmp_path):
    """Exports each case once per test module run."""
    paths: dict[str, tuple[ModelCase, Path]] = {}

    def get(name: str) -> tuple[ModelCase, Path, int]:
        factory, exporter, batch = CASES[name]
        if name not in paths:
            case = factory()
            directory = module_tmp_path / name
            if exporter == "torchscript-bn":
                path = export(case, "torchscript", directory, keep_batch_norm=True)
            else:
                path = export(case, exporter, directory)
            paths[name] = (case, path)
        case, path = paths[name]
        return case, path, batch
    return get


def optimized_ops(path: Path) -> dict[str, int]:
    """The ops after -O2 with fusion off, which would hide recognized ops inside fused nodes."""
    proc = ember("inspect", str(path), "--json", "-O2", "--disable-pass", "fuse-epilogues",
                 "--disable-pass", "fuse-elementwise")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["ops_optimized"]


def run_at(path: Path, feeds: dict[str, np.ndarray], level: str, names: list[str]) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        args = ["run", str(path), "--backend", "reference", "-O", level, "--output-dir", str(tmp / "out")]
        for i, (name, value) in enumerate(feeds.items()):
            np.save(tmp / f"in{i}.npy", value)
            args += ["--input", f"{name}={tmp / f'in{i}.npy'}"]
        proc = ember(*args)
        assert proc.returncode == 0, proc.stderr
        return {n: np.load(tmp / "out" / output_file_name(n)) for n in names}


@pytest.mark.parametrize("name", list(CASES))
def test_patterns_are_recognized(name, exported):
    case, path, _ = exported(name)
    ops = optimized_ops(path)
    leftovers = CNN_LEFTOVERS if name.startswith("resnet") else LEFTOVERS
    left = {op: ops[op] for op in leftovers if ops.get(op, 0)}
    assert not left, f"{name}: left after -O2: {left} (all ops: {ops})"
    if name.startswith(("bert", "gpt2", "t5", "vit")):
        assert ops.get("attention", 0) > 0, f"{name}: no attention recognized: {ops}"
    if name.startswith("bert") or name.startswith("vit"):
        # Matmuls may remain: randomly initialized biases are zeros, and `x + 0` is removed.
        assert ops.get("gelu", 0) > 0, f"{name}: {ops}"
    if name.startswith("t5"):
        assert ops.get("rms_norm", 0) > 0, f"{name}: {ops}"


@pytest.mark.parametrize("name", list(CASES))
def test_optimized_outputs_match_unoptimized(name, exported):
    case, path, batch = exported(name)
    feeds = {n: t.numpy() for n, t in zip(case.input_names, case.inputs(batch))}
    reference = run_at(path, feeds, "0", case.output_names)
    optimized = run_at(path, feeds, "2", case.output_names)
    for output in case.output_names:
        assert_close(optimized[output], reference[output], 1e-5, what=f"{name} output '{output}'")
