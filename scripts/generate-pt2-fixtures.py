"""Writes the `.pt2` fixtures of one torch release: small models exported with a symbolic batch.

Run it with the interpreter of the torch release to record (each release writes its own archive
layout and schema version):

    /path/to/venv/bin/python scripts/generate-pt2-fixtures.py [--out tests/fixtures/pt2]

It writes `<out>/torch-<major>.<minor>/`: for each model `<model>.pt2` (as torch.export.export
returns it) and for some `<model>.core.pt2` (after `run_decompositions()`, the core ATen op set), the inputs
at two batch sizes and that release's eager outputs for them as `.npy` files, and `manifest.json`
listing them. The models are tiny so that every release's fixtures stay small.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

BATCHES = (2, 3)  # the batch exported with, and another one in the symbolic range
DEBUG_METADATA = ("stack_trace", "from_node", "torch_fn", "nn_module_stack", "source_fn_stack")


class ConvNet(torch.nn.Module):
    """Convolution, batch norm, pooling and a linear head."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, stride=1, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(6)
        self.fc = torch.nn.Linear(6, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class Mlp(torch.nn.Module):
    """Linear layers with layer norm, GELU (exact and tanh) and a residual connection."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.fc2 = torch.nn.Linear(16, 8)
        self.out = torch.nn.Linear(8, 4)

    def forward(self, x):
        h = F.gelu(self.norm(self.fc1(x)))
        x = x + F.gelu(self.fc2(h), approximate="tanh")
        return self.out(x)


class Attention(torch.nn.Module):
    """Token embedding, one self-attention block through scaled_dot_product_attention, softmax."""

    def __init__(self, vocab=20, width=8, heads=2):
        super().__init__()
        self.heads = heads
        self.embed = torch.nn.Embedding(vocab, width)
        self.position = torch.nn.Parameter(torch.randn(6, width) * 0.1)
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.proj = torch.nn.Linear(width, width)
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, tokens):
        x = self.embed(tokens) + self.position
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=-1)
        q, k, v = (y.reshape(b, t, self.heads, c // self.heads).transpose(1, 2) for y in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = self.norm(x + self.proj(y.transpose(1, 2).reshape(b, t, c)))
        return torch.softmax(self.head(x), dim=-1)


def image(batch, rng):
    return [rng.standard_normal((batch, 3, 8, 8), dtype=np.float32)]


def features(batch, rng):
    return [rng.standard_normal((batch, 8), dtype=np.float32)]


def tokens(batch, rng):
    return [rng.integers(0, 20, size=(batch, 6), dtype=np.int64)]


MODELS = {"convnet": (ConvNet, image), "mlp": (Mlp, features), "attention": (Attention, tokens)}
# The models also saved decomposed: batch norm and attention are where releases decompose most
# differently (the MLP's layer norm and linear layers decompose inside the attention block too).
DECOMPOSED = {"convnet", "attention"}


def build(cls, seed):
    torch.manual_seed(seed)
    model = cls()
    # Non-trivial running statistics, so batch norm does more than scale by about 1.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def write(out: Path, name: str, cls, make_inputs, seed: int) -> list[dict]:
    model = build(cls, seed)
    batch = torch.export.Dim("batch", min=1, max=16)
    example = tuple(torch.from_numpy(a) for a in make_inputs(BATCHES[0], np.random.default_rng(seed)))
    program = torch.export.export(model, example, dynamic_shapes=tuple({0: batch} for _ in example))
    variants = {"": program}
    if name in DECOMPOSED:
        variants[".core"] = program.run_decompositions()
    # Each node carries its source locations several times over (stack traces, the nodes it came
    # from); Ember reads none of it, and it would more than double the fixtures' size.
    for exported in variants.values():
        for node in exported.graph.nodes:
            for key in DEBUG_METADATA:
                node.meta.pop(key, None)

    runs = []
    for n in BATCHES:
        inputs = make_inputs(n, np.random.default_rng(seed * 100 + n))
        with torch.inference_mode():
            result = model(*(torch.from_numpy(a) for a in inputs))
        outputs = [o.numpy() for o in (result if isinstance(result, tuple) else (result,))]
        run = {"batch": n}
        for kind, arrays in (("inputs", inputs), ("outputs", outputs)):
            run[kind] = [f"{name}.b{n}.{kind[:-1]}{i}.npy" for i in range(len(arrays))]
            for file, array in zip(run[kind], arrays):
                np.save(out / file, array)
        runs.append(run)

    entries = []
    for variant, exported in variants.items():
        archive = f"{name}{variant}.pt2"
        torch.export.save(exported, str(out / archive))
        entries.append({"name": name + variant, "archive": archive, "runs": runs})
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests/fixtures/pt2")
    args = parser.parse_args()
    release = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    out = args.out / f"torch-{release}"
    out.mkdir(parents=True, exist_ok=True)
    models = []
    for seed, (name, (cls, make_inputs)) in enumerate(MODELS.items(), start=1):
        models += write(out, name, cls, make_inputs, seed)
    manifest = {"torch": torch.__version__.split("+")[0], "models": models}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(models)} archives for torch {torch.__version__} to {out}")


if __name__ == "__main__":
    main()
