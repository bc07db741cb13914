"""The cleanup passes on exported models: shape computations are folded where shapes are known, and
optimizing never changes the outputs.

BERT is exported with the TorchScript exporter with a symbolic batch and sequence (and once with
static shapes), a torchvision model with static shapes. After `-O2`:
- with static shapes, no node computes an integer tensor any more (no shape, gather on shapes,
  concat of shape pieces, constant_of_shape, range...);
- with symbolic dims, every reshape target is a constant, and a `shape` op remains only
  on a value whose shape has a symbolic or unknown dim;
- `ember run -O0` and `-O2` agree within 1e-5 of the largest output magnitude.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from harness import EmberFailed, assert_close, ember, output_file_name
from models import bert, export, vision

SHAPE_OPS = {"shape", "size", "constant_of_shape", "range"}
NAME = r'%(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9_.]+)'
NODE = re.compile(rf"^\s*(?P<outs>{NAME}(?:, {NAME})*) = (?P<op>[a-z_0-9]+)\((?P<args>.*?)\)(?: \{{.*\}})? : (?P<types>.*?)(?: loc\(.*\))?$")
CONSTANT = re.compile(rf"^\s*(?P<name>{NAME}) = constant ")


def parse_ir(text: str) -> tuple[set[str], list[dict]]:
    """The constant names and the nodes (op, operand names, output types) of printed Ember IR."""
    constants, nodes = set(), []
    for line in text.splitlines():
        if m := CONSTANT.match(line):
            constants.add(m["name"])
        elif m := NODE.match(line):
            nodes.append({"op": m["op"], "args": re.findall(NAME, m["args"]),
                          "types": re.findall(r"[a-z0-9]+\[[^\]]*\]", m["types"]), "outs": re.findall(NAME, m["outs"])})
    return constants, nodes


def optimized_ir(path: Path) -> str:
    proc = ember("inspect", str(path), "--print-ir", "-O2")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def inspect_json(path: Path, level: str = "-O2") -> dict:
    proc = ember("inspect", str(path), "--json", level)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def run_level(path: Path, feeds: dict[str, np.ndarray], level: str, outputs: list[str]) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        args = ["run", str(path), "--output-dir", str(tmp / "out"), level]
        for i, (name, value) in enumerate(feeds.items()):
            np.save(tmp / f"in{i}.npy", value)
            args += ["--input", f"{name}={tmp / f'in{i}.npy'}"]
        proc = ember(*args)
        if proc.returncode != 0:
            raise EmberFailed(proc.returncode, proc.stderr)
        return {name: np.load(tmp / "out" / output_file_name(name)) for name in outputs}


def types_of(nodes: list[dict]) -> dict[str, str]:
    return {out: t for n in nodes for out, t in zip(n["outs"], n["types"])}


def assert_no_integer_computation(text: str) -> None:
    """With static shapes every shape computation folds: no node may produce an integer tensor (bool
    masks computed from the model's inputs are data, not shapes)."""
    _, nodes = parse_ir(text)
    integer = [n for n in nodes if any(re.match(r"(i64|i32)\[", t) for t in n["types"])]
    assert not integer, f"{len(integer)} shape computations left, e.g. {integer[:3]}"


def assert_static_targets(text: str) -> None:
    """With symbolic dims: reshape targets are constants; `shape` only reads dynamic shapes. (An expand
    of a size-1 dim to a symbolic one, as BERT's token types are, needs its target computed.)"""
    constants, nodes = parse_ir(text)
    inputs = dict(re.findall(rf"({NAME}): ([a-z0-9]+\[[^\]]*\])", text.splitlines()[0]))
    types = {**inputs, **types_of(nodes)}
    for n in nodes:
        if n["op"] == "reshape":
            assert n["args"][1] in constants, f"reshape of {n['args'][0]} has a computed target {n['args'][1]}"
        if n["op"] == "shape":
            dims = types.get(n["args"][0], "?[?]").split("[", 1)[1].rstrip("]").split(",")
            assert not all(d.isdigit() for d in dims), f"shape of {n['args'][0]}, whose shape is known"
        assert n["op"] not in ("size", "constant_of_shape"), f"{n['op']} left: {n}"


@pytest.fixture(scope="module")
def bert_dynamic(module_tmp_path):
    case = bert(layers=2, seq=16)
    return case, export(case, "torchscript", module_tmp_path / "bert-dynamic")


def test_bert_dynamic_shapes_fold_to_constant_targets(bert_dynamic):
    case, path = bert_dynamic
    report = inspect_json(path)
    imported = sum(report["ops_imported"].values()) - report["ops_imported"].get("Constant", 0)
    optimized = sum(report["ops_optimized"].values())
    assert optimized < imported * 0.6, f"{imported} nodes imported, {optimized} after -O2"
    assert_static_targets(optimized_ir(path))


def test_bert_dynamic_outputs_unchanged(bert_dynamic):
    case, path = bert_dynamic
    for batch in (1, 3):
        feeds = {n: t.numpy() for n, t in zip(case.input_names, case.inputs(batch))}
        reference = run_level(path, feeds, "-O0", case.output_names)
        optimized = run_level(path, feeds, "-O2", case.output_names)
        for name in case.output_names:
            assert_close(optimized[name], reference[name], 1e-5, what=f"BERT batch {batch} '{name}'")


def test_bert_static_has_no_shape_computation(tmp_path):
    case = bert(layers=2, seq=16)
    path = tmp_path / "model.onnx"
    model = case.build()
    with torch.no_grad():
        torch.onnx.export(model, case.inputs(2), str(path), dynamo=False, opset_version=17,
                          input_names=case.input_names, output_names=case.output_names)
    assert_no_integer_computation(optimized_ir(path))
    assert not SHAPE_OPS & set(inspect_json(path)["ops_optimized"])
    feeds = {n: t.numpy() for n, t in zip(case.input_names, case.inputs(2))}
    reference = run_level(path, feeds, "-O0", case.output_names)
    optimized = run_level(path, feeds, "-O2", case.output_names)
    for name in case.output_names:
        assert_close(optimized[name], reference[name], 1e-5, what=f"static BERT '{name}'")


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_torchvision_has_no_shape_computation(exporter, tmp_path):
    case = vision("mobilenet_v3_small", size=96)
    path = export(case, exporter, tmp_path)
    report = inspect_json(path)
    assert not SHAPE_OPS & set(report["ops_optimized"]), report["ops_optimized"]
    assert_static_targets(optimized_ir(path))
    feeds = {"image": case.inputs(2)[0].numpy()}
    reference = run_level(path, feeds, "-O0", case.output_names)
    optimized = run_level(path, feeds, "-O2", case.output_names)
    assert_close(optimized["logits"], reference["logits"], 1e-5, what=f"mobilenet_v3_small ({exporter})")
