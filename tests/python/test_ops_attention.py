"""ONNX Attention (opsets 23 and 24) on ember's reference backend against ONNX Runtime."""
from __future__ import annotations

import numpy as np
import pytest
import tempfile
from pathlib import Path

import onnx
from harness import assert_close, check_onnx_op, run_ember, single_op_model

RNG = np.random.default_rng(5)


def rand(shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def check_onnx_reference(inputs, attrs, opset, rtol=1e-5):
    """For forms ONNX Runtime refuses (a mask broadcast over queries, a mask shorter than the keys):
    compare with ONNX's own reference implementation."""
    from onnx.reference import ReferenceEvaluator

    model = single_op_model("Attention", inputs, attrs, opset)
    feeds = {n: v for n, v in inputs.items() if v is not None}
    (expected,) = ReferenceEvaluator(model).run(None, feeds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        actual = run_ember(path, feeds)["out0"]
    assert_close(actual, expected, rtol)


def qkv4(b=2, hq=4, hkv=4, s=5, l=6, d=8, dv=8):
    return {"Q": rand((b, hq, s, d)), "K": rand((b, hkv, l, d)), "V": rand((b, hkv, l, dv))}


@pytest.mark.parametrize("opset", [23, 24])
def test_attention_4d(opset):
    check_onnx_op("Attention", qkv4(), {}, opset=opset)


def test_attention_value_head_size():
    check_onnx_op("Attention", qkv4(dv=5), {"scale": 0.3}, opset=23)


@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("s,l", [(5, 5), (3, 6), (6, 4)])
def test_attention_causal(causal, s, l):
    check_onnx_op("Attention", qkv4(s=s, l=l), {"is_causal": causal}, opset=23)


def test_attention_gqa():
    check_onnx_op("Attention", qkv4(hq=6, hkv=2), {"is_causal": 1}, opset=23)


@pytest.mark.parametrize("mask_shape", [(5, 6), (2, 1, 5, 6), (4, 5, 6)])
@pytest.mark.parametrize("boolean", [False, True])
def test_attention_masks(mask_shape, boolean):
    inputs = qkv4()
    if boolean:
        mask = RNG.random(mask_shape) > 0.3
    else:
        mask = rand(mask_shape)
    inputs["attn_mask"] = mask
    check_onnx_op("Attention", inputs, {}, opset=23)


@pytest.mark.parametrize("mask_shape,causal", [
    ((1, 6), 0), ((5, 4), 0), ((2, 4, 1, 3), 0), ((5, 4), 1), ((2, 1, 5, 3), 1),
    # ONNX's reference builds the causal mask from the mask's own query dim, so a mask broadcast
    # over queries is not combined with is_causal here.
])
@pytest.mark.parametrize("boolean", [False, True])
def test_attention_broadcast_and_short_masks(mask_shape, boolean, causal):
    inputs = qkv4()
    inputs["attn_mask"] = RNG.random(mask_shape) > 0.3 if boolean else rand(mask_shape)
    check_onnx_reference(inputs, {"is_causal": causal}, opset=24)


def test_attention_sliding_window():
    inputs = qkv4(s=6, l=6)
    check_onnx_reference(inputs, {"left_window_size": 2, "right_window_size": 1}, opset=25)
    check_onnx_reference(inputs, {"left_window_size": 1, "is_causal": 1}, opset=25)


def test_attention_mask_with_causal():
    inputs = qkv4(s=4, l=4)
    inputs["attn_mask"] = rand((4, 4))
    check_onnx_op("Attention", inputs, {"is_causal": 1}, opset=23)


def test_attention_fully_masked_row():
    inputs = qkv4(s=3, l=4)
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False
    inputs["attn_mask"] = mask
    check_onnx_op("Attention", inputs, {}, opset=23)


def test_attention_softcap():
    check_onnx_op("Attention", qkv4(), {"softcap": 2.0, "scale": 0.5}, opset=23)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_attention_qk_output(mode):
    inputs = qkv4(s=4, l=5)
    inputs["attn_mask"] = rand((4, 5))
    check_onnx_op("Attention", inputs, {"softcap": 3.0, "qk_matmul_output_mode": mode}, opset=23,
                  outputs=["Y", "present_key", "present_value", "qk"])


@pytest.mark.parametrize("causal", [0, 1])
def test_attention_past_key_value(causal):
    inputs = qkv4(s=2, l=2, hq=4, hkv=2)
    inputs["attn_mask"] = None
    inputs["past_key"] = rand((2, 2, 3, 8))
    inputs["past_value"] = rand((2, 2, 3, 8))
    check_onnx_op("Attention", inputs, {"is_causal": causal}, opset=23,
                  outputs=["Y", "present_key", "present_value"])


@pytest.mark.parametrize("causal", [0, 1])
def test_attention_3d(causal):
    b, s, l, hq, hkv, d = 2, 5, 6, 4, 2, 8
    inputs = {"Q": rand((b, s, hq * d)), "K": rand((b, l, hkv * d)), "V": rand((b, l, hkv * 4))}
    check_onnx_op("Attention", inputs, {"q_num_heads": hq, "kv_num_heads": hkv, "is_causal": causal}, opset=23,
                  outputs=["Y", "present_key", "present_value"])


def test_attention_3d_past():
    b, s, hq, hkv, d = 1, 1, 4, 4, 8
    inputs = {"Q": rand((b, s, hq * d)), "K": rand((b, s, hkv * d)), "V": rand((b, s, hkv * d)),
              "attn_mask": None, "past_key": rand((b, hkv, 4, d)), "past_value": rand((b, hkv, 4, d))}
    check_onnx_op("Attention", inputs, {"q_num_heads": hq, "kv_num_heads": hkv, "is_causal": 1}, opset=23,
                  outputs=["Y", "present_key", "present_value"])


def test_attention_f16():
    inputs = {n: v.astype(np.float16) for n, v in qkv4().items()}
    check_onnx_op("Attention", inputs, {"is_causal": 1}, opset=23, rtol=5e-3)


def test_attention_nonpad_kv_seqlen():
    inputs = qkv4(s=6, l=6)
    inputs["attn_mask"] = None
    inputs["past_key"] = None
    inputs["past_value"] = None
    inputs["nonpad_kv_seqlen"] = np.array([4, 6], dtype=np.int64)
    check_onnx_op("Attention", inputs, {}, opset=24)
