"""Whole models exported from PyTorch with random weights agree with PyTorch eager on the reference backend.

Each model is exported once per exporter with a symbolic batch dim, then run at batch 1 and 3
from that one file. Outputs must agree within 1e-4 of the largest reference magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from harness import assert_close, run_ember
from models import bert, export, gpt2, vision

REQUIRED = {
    "resnet50": lambda: vision("resnet50"),
    "mobilenet_v2": lambda: vision("mobilenet_v2"),
    "vit_b_16": lambda: vision("vit_b_16"),
    "bert_base": lambda: bert(layers=12, seq=64),
}

# More architectures, for op coverage: each runs at batch 2 only.
COVERAGE = {
    "mobilenet_v3_small": lambda: vision("mobilenet_v3_small"),
    "efficientnet_b0": lambda: vision("efficientnet_b0"),
    "convnext_tiny": lambda: vision("convnext_tiny"),
    "swin_t": lambda: vision("swin_t"),
    "densenet121": lambda: vision("densenet121"),
    "shufflenet_v2_x0_5": lambda: vision("shufflenet_v2_x0_5"),
    "squeezenet1_1": lambda: vision("squeezenet1_1"),
    "gpt2_small": lambda: gpt2(layers=2, seq=32),
}

EXPORTERS = ["torchscript", "dynamo"]


def expected_outputs(model, inputs):
    with torch.inference_mode():
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in outs]


def check(name, factory, exporter, batches, directory):
    case = factory()
    path = export(case, exporter, directory)
    model = case.build()
    for batch in batches:
        inputs = case.inputs(batch)
        expected = expected_outputs(model, inputs)
        feeds = {n: t.numpy() for n, t in zip(case.input_names, inputs)}
        actual = run_ember(path, feeds)
        for out_name, value in zip(case.output_names, expected):
            assert_close(actual[out_name], value.astype(actual[out_name].dtype, copy=False), 1e-4,
                         what=f"{name} ({exporter}) batch {batch} output '{out_name}'")


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(REQUIRED))
def test_model_matches_pytorch(name, exporter, tmp_path):
    check(name, REQUIRED[name], exporter, (1, 3), tmp_path)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", list(COVERAGE))
def test_more_architectures_match_pytorch(name, exporter, tmp_path):
    check(name, COVERAGE[name], exporter, (2,), tmp_path)
