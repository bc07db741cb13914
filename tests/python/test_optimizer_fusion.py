"""Fusion on whole models: elementwise chains and epilogues become fused nodes, the node count
drops, and `ember run -O2` gives the same outputs as `-O0`.

Each model is exported once per exporter (symbolic batch) with random weights and run at batch 2.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from harness import EmberFailed, assert_close, ember, run_ember
from models import bert, export, vision

FUSION_PASSES = ["fuse-epilogues", "fuse-elementwise"]

# Per model: the fewest epilogues it must get (whatever recognition has made of its ops first),
# and patterns that some fused node's `steps` must match.
MODELS = {
    # 53 convs, of which the 4 downsample convs share their add with another conv;
    # conv + residual add + relu, and conv + relu.
    "resnet50": (lambda: vision("resnet50"), 49,
                 [r'"conv\([^"]*\)", "add\([^"]*\)", "relu\(%1\)"', r'"conv\([^"]*\)", "relu\(%0\)"']),
    # 35 conv + relu6 (clip), 10 projection convs + residual add.
    "mobilenet_v2": (lambda: vision("mobilenet_v2"), 45,
                     [r'"conv\([^"]*\)", "clip\(%0, ', r'"conv\([^"]*\)", "add\(']),
    # Per layer at least: matmul (or linear) + bias + GELU (recognized, or still written with erf),
    # and two matmuls + bias + residual add.
    "bert_base": (lambda: bert(layers=12, seq=64), 36,
                  [r'"(matmul|linear|gemm)\([^"]*\)", ("add\([^"]*\)", )?[^\]]*"(gelu|erf)\(',
                   r'"(matmul|linear|gemm)\([^"]*\)", ("add\([^"]*\)", )?"add\([^"]*\)"\]']),
}
EXPORTERS = ["torchscript", "dynamo"]


@pytest.fixture(scope="module")
def exported(module_tmp_path):
    """Exports each (model, exporter) once for the whole module."""
    cache: dict[tuple[str, str], tuple[Path, dict[str, np.ndarray]]] = {}

    def get(name: str, exporter: str):
        if (name, exporter) not in cache:
            case = MODELS[name][0]()
            path = export(case, exporter, module_tmp_path / f"{name}-{exporter}")
            feeds = {n: t.numpy() for n, t in zip(case.input_names, case.inputs(2))}
            cache[(name, exporter)] = (path, feeds)
        return cache[(name, exporter)]
    return get


def inspect(path: Path, *flags: str) -> dict:
    proc = ember("inspect", path, "--json", *flags)
    if proc.returncode != 0:
        raise EmberFailed(proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


def optimized_ir(path: Path) -> str:
    proc = ember("inspect", path, "--print-ir")
    if proc.returncode != 0:
        raise EmberFailed(proc.returncode, proc.stderr)
    return proc.stdout


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(MODELS))
def test_fusion_reduces_node_count(name, exporter, exported):
    path, _ = exported(name, exporter)
    disabled = [flag for p in FUSION_PASSES for flag in ("--disable-pass", p)]
    before = sum(inspect(path, *disabled)["ops_optimized"].values())
    ops = inspect(path)["ops_optimized"]
    after = sum(ops.values())
    assert ops.get("fused_epilogue", 0) >= MODELS[name][1], ops
    # Each fused node replaces two or more.
    fused = ops.get("fused_epilogue", 0) + ops.get("fused_elementwise", 0)
    assert before - after >= fused, f"{name} ({exporter}): {before} -> {after} nodes"
    ir = optimized_ir(path)
    fused_lines = [line for line in ir.splitlines() if " = fused_" in line]
    for pattern in MODELS[name][2]:
        assert any(re.search(pattern, line) for line in fused_lines), f"{name} ({exporter}): no epilogue {pattern}"


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(MODELS))
def test_optimized_outputs_equal_unoptimized(name, exporter, exported):
    path, feeds = exported(name, exporter)
    reference = run_ember(path, feeds, extra_args=["-O0"])
    optimized = run_ember(path, feeds, extra_args=["-O2"])
    assert sorted(optimized) == sorted(reference)
    for output, value in reference.items():
        assert_close(optimized[output], value, 1e-5, what=f"{name} ({exporter}) output '{output}'")


@pytest.mark.parametrize("name", list(MODELS))
def test_fusion_alone_is_bit_exact(name, exported):
    """Fused nodes round each step as the separate ops did: fusing changes no bit of the outputs."""
    path, feeds = exported(name, "torchscript")
    # On the reference backend: the CPU backend's fused kernels (oneDNN post-ops, vector programs)
    # may round differently from separate kernels, within the usual tolerance.
    disabled = [flag for p in FUSION_PASSES for flag in ("--disable-pass", p)]
    unfused = run_ember(path, feeds, backend="reference", extra_args=["-O2", *disabled])
    fused = run_ember(path, feeds, backend="reference", extra_args=["-O2"])
    for output, value in unfused.items():
        assert np.array_equal(fused[output], value), f"{name}: output '{output}' differs after fusion"
