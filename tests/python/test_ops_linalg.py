"""MatMul, Gemm and Einsum on ember's reference backend against ONNX Runtime."""
from __future__ import annotations

import numpy as np
import pytest
import tempfile
from pathlib import Path

import onnx
from harness import assert_close, check_onnx_op, run_ember, single_op_model

RNG = np.random.default_rng(7)


def rand(shape, dtype=np.float32):
    if np.issubdtype(dtype, np.integer):
        return RNG.integers(-5, 6, size=shape).astype(dtype) if np.issubdtype(dtype, np.signedinteger) \
            else RNG.integers(0, 6, size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("a,b", [
    ((3, 4), (4, 5)),
    ((2, 3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 1, 3, 4), (5, 4, 6)),
    ((1, 3, 4), (2, 4, 2)),
    ((7, 64, 96), (7, 96, 130)),
    ((1, 130, 257), (257, 33)),
])
def test_matmul_shapes(a, b):
    check_onnx_op("MatMul", {"A": rand(a), "B": rand(b)}, opset=13, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.uint32, np.uint64])
def test_matmul_dtypes(dtype):
    rtol = 1e-2 if dtype == np.float16 else 1e-6
    check_onnx_op("MatMul", {"A": rand((2, 3, 4), dtype), "B": rand((4, 5), dtype)}, opset=13, rtol=rtol)


def test_matmul_large_f32():
    check_onnx_op("MatMul", {"A": rand((2, 128, 768)), "B": rand((768, 300))}, opset=13, rtol=1e-5)


@pytest.mark.parametrize("opset", [13, 21])
@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_transposes(trans_a, trans_b, opset):
    a = rand((5, 3) if trans_a else (3, 5))
    b = rand((4, 5) if trans_b else (5, 4))
    check_onnx_op("Gemm", {"A": a, "B": b, "C": rand((3, 4))},
                  {"transA": trans_a, "transB": trans_b, "alpha": 0.5, "beta": 2.0}, opset=opset)


@pytest.mark.parametrize("c_shape", [None, (), (1,), (4,), (3, 1), (1, 4), (3, 4)])
def test_gemm_bias_broadcast(c_shape):
    inputs = {"A": rand((3, 70)), "B": rand((70, 4))}
    if c_shape is not None:
        inputs["C"] = rand(c_shape)
    check_onnx_op("Gemm", inputs, opset=13)


def test_gemm_linear_layer():
    check_onnx_op("Gemm", {"A": rand((3, 768)), "B": rand((1000, 768)), "C": rand((1000,))},
                  {"transB": 1}, opset=13, rtol=1e-5)


def check_against_numpy(op_type, inputs, attrs, expected, opset, rtol=1e-6):
    """For dtypes ONNX Runtime has no kernel for: compare ember with a NumPy oracle."""
    model = single_op_model(op_type, inputs, attrs, opset)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        actual = run_ember(path, inputs)["out0"]
    assert_close(actual, expected, rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_gemm_float_dtypes(dtype):
    rtol = 1e-2 if dtype == np.float16 else 1e-6
    check_onnx_op("Gemm", {"A": rand((3, 5), dtype), "B": rand((5, 4), dtype), "C": rand((4,), dtype)},
                  opset=13, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.uint64])
def test_gemm_integer_dtypes(dtype):
    a, b, c = rand((5, 3), dtype), rand((5, 4), dtype), rand((4,), dtype)
    expected = (a.T.astype(np.int64) @ b.astype(np.int64) * 2 + 3 * c.astype(np.int64)).astype(dtype)
    check_against_numpy("Gemm", {"A": a, "B": b, "C": c}, {"transA": 1, "alpha": 2.0, "beta": 3.0}, expected, 13)


@pytest.mark.parametrize("equation,shapes", [
    ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 6, 4)]),
    ("bhqk,bhkd->bhqd", [(2, 3, 5, 6), (2, 3, 6, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->i", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (2, 3, 5, 2)]),
    ("...ij,...jk->...ik", [(4, 5), (5, 2)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i", [(5,), (5,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("bnd,dh->bnh", [(2, 7, 16), (16, 8)]),
    ("abc,cd->abd", [(1, 3, 4), (4, 2)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("bij->b", [(2, 3, 4)]),
])
def test_einsum(equation, shapes):
    inputs = {f"x{i}": rand(s) for i, s in enumerate(shapes)}
    check_onnx_op("Einsum", inputs, {"equation": equation}, opset=13)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
def test_einsum_dtypes(dtype):
    check_onnx_op("Einsum", {"x": rand((2, 3, 4), dtype), "y": rand((2, 4, 5), dtype)},
                  {"equation": "bij,bjk->bik"}, opset=13)
