"""Conv, ConvTranspose and the pooling ops on ember's reference backend against ONNX Runtime."""
from __future__ import annotations

import numpy as np
import pytest
import tempfile
from pathlib import Path

import onnx
from harness import check_onnx_op, max_relative_error, run_ember, run_onnxruntime, single_op_model

RNG = np.random.default_rng(11)


def check_f64(op_type, inputs, attrs, opset=13, rtol=1e-5):
    """ONNX Runtime has no f64 kernel for these ops: compare ember in f64 with ONNX Runtime in f32."""
    as_f32 = {n: v.astype(np.float32) for n, v in inputs.items()}
    expected = run_onnxruntime(single_op_model(op_type, as_f32, attrs, opset), as_f32)["out0"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(single_op_model(op_type, inputs, attrs, opset), str(path))
        actual = run_ember(path, inputs)["out0"]
    assert actual.dtype == np.float64
    assert max_relative_error(actual, expected) <= rtol


def rand(shape, dtype=np.float32):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return RNG.integers(max(info.min, -100), min(info.max, 100), size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("x,w,attrs", [
    ((1, 3, 9, 9), (4, 3, 3, 3), {}),
    ((2, 3, 9, 9), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((1, 3, 10, 11), (5, 3, 3, 2), {"strides": [2, 3], "pads": [1, 0, 2, 1]}),
    ((1, 4, 9, 9), (6, 2, 3, 3), {"group": 2, "dilations": [2, 1]}),
    ((1, 4, 8, 8), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),
    ((1, 3, 9, 9), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 10, 10), (4, 3, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [3, 3]}),
    ((1, 3, 9, 9), (4, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 3, 9, 9), (4, 3, 3, 3), {"kernel_shape": [3, 3]}),
    ((2, 8, 7, 7), (16, 8, 1, 1), {}),
    ((1, 8, 7, 7), (16, 8, 1, 1), {"strides": [2, 2]}),
    ((1, 3, 32, 32), (8, 3, 16, 16), {"strides": [16, 16]}),
    ((1, 3, 20), (4, 3, 5), {"pads": [2, 1], "strides": [2], "dilations": [2]}),
    ((2, 2, 5, 6, 7), (3, 2, 3, 2, 3), {"pads": [1, 0, 1, 1, 1, 0], "strides": [1, 2, 2]}),
    ((1, 64, 28, 28), (64, 64, 3, 3), {"pads": [1, 1, 1, 1]}),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv(x, w, attrs, bias):
    inputs = {"X": rand(x), "W": rand(w)}
    if bias:
        inputs["B"] = rand((w[0],))
    check_onnx_op("Conv", inputs, attrs, opset=13, rtol=1e-5)


def test_conv_f16():
    dtype = np.float16
    check_onnx_op("Conv", {"X": rand((1, 3, 7, 7), dtype), "W": rand((2, 3, 3, 3), dtype), "B": rand((2,), dtype)},
                  {"pads": [1, 1, 1, 1]}, opset=22, rtol=2e-3)


def test_conv_f64():
    check_f64("Conv", {"X": rand((1, 4, 7, 7), np.float64), "W": rand((2, 2, 3, 3), np.float64),
                       "B": rand((2,), np.float64)}, {"pads": [1, 1, 1, 1], "group": 2})


@pytest.mark.parametrize("x,w,attrs", [
    ((1, 3, 5, 5), (3, 2, 3, 3), {}),
    ((2, 3, 5, 4), (3, 2, 3, 3), {"strides": [2, 2], "pads": [1, 0, 1, 1]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_padding": [1, 1]}),
    ((1, 4, 5, 5), (4, 3, 3, 3), {"group": 2, "dilations": [2, 2]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [10, 11]}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 3, 5, 5), (3, 2, 4, 4), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 3, 5, 5), (3, 2, 3, 3), {"auto_pad": "VALID", "strides": [3, 2]}),
    ((1, 2, 7), (2, 3, 4), {"strides": [3], "pads": [1, 2]}),
    ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2), {"strides": [2, 1, 2]}),
    ((1, 16, 14, 14), (16, 8, 2, 2), {"strides": [2, 2]}),
    ((1, 1, 3, 3), (1, 2, 3, 3), {"strides": [3, 2], "output_shape": [10, 8]}),
    ((1, 1, 3, 3), (1, 2, 3, 3), {"strides": [3, 2], "pads": [1, 2, 1, 2]}),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose(x, w, attrs, bias):
    inputs = {"X": rand(x), "W": rand(w)}
    if bias:
        inputs["B"] = rand((w[1] * attrs.get("group", 1),))
    check_onnx_op("ConvTranspose", inputs, attrs, opset=13, rtol=1e-5)


def test_conv_transpose_f64():
    check_f64("ConvTranspose", {"X": rand((1, 2, 4, 4), np.float64), "W": rand((2, 3, 3, 3), np.float64)},
              {"strides": [2, 2]})


POOLS = [
    ((1, 3, 9, 9), {"kernel_shape": [3, 3]}),
    ((2, 3, 9, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 10, 9), {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 10, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 2, 9, 9), {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 9, 9), {"kernel_shape": [3, 3], "auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 2, 11), {"kernel_shape": [3], "strides": [2], "pads": [1, 2]}),
    ((1, 2, 5, 6, 7), {"kernel_shape": [2, 3, 2], "strides": [1, 2, 2], "pads": [0, 1, 1, 1, 1, 0]}),
]


@pytest.mark.parametrize("x,attrs", POOLS)
def test_max_pool(x, attrs):
    check_onnx_op("MaxPool", {"X": rand(x)}, attrs, opset=13)


@pytest.mark.parametrize("x,attrs", POOLS[:4] + POOLS[7:])
@pytest.mark.parametrize("storage_order", [0, 1])
def test_max_pool_indices(x, attrs, storage_order):
    if storage_order == 1 and len(x) != 4:
        pytest.skip("ONNX Runtime implements storage_order only for 2-D pooling")
    check_onnx_op("MaxPool", {"X": rand(x)}, {**attrs, "storage_order": storage_order}, opset=13, outputs=2)


def test_max_pool_dilations():
    check_onnx_op("MaxPool", {"X": rand((1, 2, 9, 9))}, {"kernel_shape": [2, 2], "dilations": [2, 3]}, opset=13,
                  outputs=2)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int8, np.uint8])
def test_max_pool_dtypes(dtype):
    check_onnx_op("MaxPool", {"X": rand((1, 2, 6, 6), dtype)}, {"kernel_shape": [2, 2], "pads": [1, 1, 1, 1]},
                  opset=13)


@pytest.mark.parametrize("x,attrs", POOLS)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool(x, attrs, count_include_pad):
    check_onnx_op("AveragePool", {"X": rand(x)}, {**attrs, "count_include_pad": count_include_pad}, opset=13)


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_dilations(count_include_pad):
    check_onnx_op("AveragePool", {"X": rand((1, 2, 9, 9))},
                  {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": count_include_pad},
                  opset=19)


def test_average_pool_dtypes():
    check_onnx_op("AveragePool", {"X": rand((1, 2, 6, 6), np.float16)}, {"kernel_shape": [3, 3]}, opset=13, rtol=2e-3)
    check_f64("AveragePool", {"X": rand((1, 2, 6, 6), np.float64)}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]})


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("opset", [13, 18])
def test_lp_pool(p, opset):
    check_onnx_op("LpPool", {"X": rand((1, 2, 7, 7))}, {"kernel_shape": [3, 3], "p": p, "strides": [2, 2],
                                                       "pads": [1, 1, 1, 1]}, opset=opset)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5, 6), (1, 4, 7), (1, 2, 3, 4, 5)])
def test_global_pools(op, shape):
    check_onnx_op(op, {"X": rand(shape)}, opset=13)


def test_global_pools_f64():
    check_f64("GlobalAveragePool", {"X": rand((1, 3, 4, 4), np.float64)}, {})
    check_f64("GlobalMaxPool", {"X": rand((1, 3, 4, 4), np.float64)}, {})
    check_f64("GlobalLpPool", {"X": rand((1, 3, 4, 4), np.float64)}, {"p": 3})
