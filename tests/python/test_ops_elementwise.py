"""Elementwise ops on ember's reference backend against ONNX Runtime (or NumPy where ONNX Runtime
has no kernel for the op, opset or dtype)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from harness import assert_close, ember_error, rng, run_ember, run_onnxruntime, single_op_model

R = rng(11)


def rand(shape, dtype=np.float32, low=-3.0, high=3.0):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.asarray(R.random(shape) > 0.5)
    if np.issubdtype(dtype, np.unsignedinteger):
        return R.integers(0, 20, size=shape).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        return R.integers(-20, 20, size=shape).astype(dtype)
    return np.asarray(R.uniform(low, high, size=shape)).astype(dtype)


def rtol_for(dtype) -> float:
    return 1e-2 if np.dtype(dtype) == np.float16 else 1e-5


def check_onnx_op(op_type, inputs, attrs=None, opset=17, rtol=1e-5, initializers=frozenset()):
    """One-node model on ember against ONNX Runtime; where ONNX Runtime has no kernel for the
    op at this opset and dtype, against ONNX's own reference evaluator instead."""
    from onnx.reference import ReferenceEvaluator
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail as OrtFail
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

    model = single_op_model(op_type, inputs, attrs, opset, 1, initializers)
    feeds = {n: v for n, v in inputs.items() if v is not None and n not in initializers}
    try:
        expected = run_onnxruntime(model, feeds)["out0"]
    except (OrtNotImplemented, OrtFail):  # no kernel, or an opset newer than it supports
        expected = np.asarray(ReferenceEvaluator(model).run(None, feeds)[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        actual = run_ember(path, feeds)
    assert_close(actual["out0"], expected, rtol)


def check_numpy(op_type, inputs, expected, attrs=None, opset=17, rtol=1e-5, backend=None):
    """One-node model on ember against outputs computed with NumPy."""
    model = single_op_model(op_type, inputs, attrs, opset)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        feeds = {n: v for n, v in inputs.items() if v is not None}
        actual = run_ember(path, feeds, backend=backend) if backend else run_ember(path, feeds)
    assert_close(actual["out0"], expected, rtol)


BROADCASTS = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), ()), ((), (3, 4)), ((2, 1, 4), (3, 1)),
              ((4, 1), (1, 5)), ((2, 3, 4, 5), (3, 1, 5)), ((1, 6), (6,)), ((0, 3), (1, 3))]


# Arithmetic

@pytest.mark.parametrize("shapes", BROADCASTS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_arithmetic_broadcasting(op, shapes):
    a, b = rand(shapes[0]), rand(shapes[1], low=0.5, high=3)
    check_onnx_op(op, {"a": a, "b": b}, opset=14)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.int8, np.uint8, np.uint32,
                                   np.uint64, np.int16, np.uint16])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_arithmetic_dtypes(op, dtype):
    a = rand((3, 4), dtype)
    b = rand((4,), dtype)
    if op == "Div":
        b = np.where(b == 0, np.ones_like(b), b)
    check_onnx_op(op, {"a": a, "b": b}, opset=14, rtol=rtol_for(dtype))


@pytest.mark.parametrize("opset", [13, 14])
def test_arithmetic_older_opset(opset):
    check_onnx_op("Mul", {"a": rand((2, 3)), "b": rand((3,))}, opset=opset)


def test_large_same_shape_and_channel_broadcast():
    x = rand((2, 64, 56, 56))
    check_onnx_op("Add", {"a": x, "b": rand((2, 64, 56, 56))})
    check_onnx_op("Mul", {"a": x, "b": rand((64, 1, 1))})
    check_onnx_op("Relu", {"x": x})
    check_onnx_op("Sigmoid", {"x": x})


@pytest.mark.parametrize("base,exponent", [
    (np.float32, np.float32), (np.float32, np.int64), (np.float32, np.int32), (np.float64, np.float32),
    (np.int32, np.int32), (np.int64, np.int64), (np.int64, np.int32), (np.float16, np.float16),
    (np.float32, np.float16), (np.float64, np.float64), (np.int32, np.float32),
])
def test_pow_dtype_pairs(base, exponent):
    if np.issubdtype(base, np.integer):
        b = R.integers(-4, 5, size=(3, 4)).astype(base)
    else:
        b = rand((3, 4), base, low=0.1, high=3)
    if np.issubdtype(exponent, np.integer):
        e = R.integers(0, 4, size=(4,)).astype(exponent)
    else:
        e = rand((4,), exponent, low=-2, high=2) if not np.issubdtype(base, np.integer) \
            else np.array([0, 1, 2, 3], dtype=exponent)
    check_onnx_op("Pow", {"x": b, "y": e}, opset=15, rtol=rtol_for(base))


def test_pow_square_fast_path_and_opset13():
    x = rand((5, 6))
    check_onnx_op("Pow", {"x": x, "y": np.array(2, np.float32)}, opset=13)
    check_onnx_op("Pow", {"x": x, "y": np.array(2, np.float32)}, opset=15, initializers={"y"})
    check_onnx_op("Pow", {"x": np.abs(x), "y": np.array([0.5, -1.5, 3], np.float32).reshape(3, 1, 1)}, opset=15)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8, np.int16, np.uint8, np.uint32, np.uint64])
@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_integers(dtype, fmod):
    a = rand((3, 5), dtype)
    b = rand((5,), dtype)
    b = np.where(b == 0, np.ones_like(b), b)
    check_onnx_op("Mod", {"a": a, "b": b}, {"fmod": fmod}, opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_mod_floats_fmod(dtype):
    a = rand((3, 5), dtype, -10, 10)
    b = np.array([2.5, -1.5, 3, -4, 0.75], dtype)
    check_onnx_op("Mod", {"a": a, "b": b}, {"fmod": 1}, opset=13, rtol=rtol_for(dtype))


def test_mod_floats_floor():
    # fmod = 0 on floats is only defined from opset 28; NumPy's remainder is the same floor mod.
    a = np.array([-4.5, 7, 0, -0.0, 5.5, 3], np.float32)
    b = np.array([2, -3, -2, 2, np.inf, -np.inf], np.float32)
    check_numpy("Mod", {"a": a, "b": b}, np.remainder(a, b), {"fmod": 0}, opset=28)


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic(op, count):
    shapes = [(2, 3, 4), (3, 1), (4,)][:count]
    check_onnx_op(op, {f"x{i}": rand(s) for i, s in enumerate(shapes)}, opset=13)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.int64, np.uint8, np.uint64, np.int8])
@pytest.mark.parametrize("op", ["Max", "Min"])
def test_max_min_dtypes(op, dtype):
    check_onnx_op(op, {"a": rand((3, 4), dtype), "b": rand((3, 1), dtype)}, opset=13, rtol=rtol_for(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
@pytest.mark.parametrize("op", ["Sum", "Mean"])
def test_sum_mean_dtypes(op, dtype):
    inputs = {f"x{i}": rand((2, 5), dtype) for i in range(3)}
    check_onnx_op(op, inputs, opset=13, rtol=rtol_for(dtype))


def test_max_propagates_nan():
    a = np.array([np.nan, 1, 2], np.float32)
    b = np.array([0, np.nan, 1], np.float32)
    check_onnx_op("Max", {"a": a, "b": b}, opset=13)
    check_onnx_op("Min", {"a": a, "b": b}, opset=13)


# Comparison and logic

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.int8, np.uint64,
                                   np.float16])
@pytest.mark.parametrize("op", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
def test_comparisons(op, dtype):
    a = R.integers(0, 4, size=(3, 4)).astype(dtype)
    b = R.integers(0, 4, size=(4,)).astype(dtype)
    check_onnx_op(op, {"a": a, "b": b}, opset=16 if "Or" in op else 13)


def test_comparisons_with_nan_and_bool():
    a = np.array([1, np.nan, 3, -0.0], np.float32)
    b = np.array([1, np.nan, 2, 0], np.float32)
    for op in ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]:
        check_onnx_op(op, {"a": a, "b": b}, opset=16)
    check_onnx_op("Equal", {"a": rand((3, 4), np.bool_), "b": rand((4,), np.bool_)}, opset=19)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical(op):
    check_onnx_op(op, {"a": rand((2, 3, 4), np.bool_), "b": rand((3, 1), np.bool_)}, opset=13)
    check_onnx_op(op, {"a": rand((5,), np.bool_), "b": rand((), np.bool_)}, opset=13)


def test_not():
    check_onnx_op("Not", {"x": rand((3, 4), np.bool_)}, opset=13)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bit_shift(direction, dtype):
    bits = np.dtype(dtype).itemsize * 8
    x = R.integers(0, 2 ** min(bits, 63), size=(3, 4), dtype=np.uint64).astype(dtype)
    y = R.integers(0, bits, size=(4,)).astype(dtype)
    check_onnx_op("BitShift", {"x": x, "y": y}, {"direction": direction}, opset=13)


def test_bit_shift_signed_opset28():
    x = np.array([-128, -5, 64, -1, 7, -7], np.int8)
    y = np.array([1, 1, 1, 9, -2, -2], np.int8)
    check_numpy("BitShift", {"x": x, "y": y}, np.array([-64, -3, 32, -1, 0, -1], np.int8),
                {"direction": "RIGHT"}, opset=28)
    check_numpy("BitShift", {"x": x, "y": y}, np.array([0, -10, -128, 0, 0, 0], np.int8),
                {"direction": "LEFT"}, opset=28)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8, np.uint64, np.int16])
@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise(op, dtype):
    check_onnx_op(op, {"a": rand((3, 4), dtype), "b": rand((4,), dtype)}, opset=18)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8, np.uint64, np.uint16])
def test_bitwise_not(dtype):
    check_onnx_op("BitwiseNot", {"x": rand((3, 4), dtype)}, opset=18)


# Selection, clipping and casts

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.bool_,
                                   np.int8, np.uint64])
def test_where_dtypes(dtype):
    check_onnx_op("Where", {"c": rand((3, 1), np.bool_), "x": rand((3, 4), dtype), "y": rand((4,), dtype)}, opset=16)


@pytest.mark.parametrize("shapes", [((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((1, 4), (3, 1), ()),
                                    ((), (2, 3), (3,)), ((2, 1, 1), (1, 3, 1), (1, 1, 4))])
def test_where_broadcasting(shapes):
    c, x, y = shapes
    check_onnx_op("Where", {"c": rand(c, np.bool_), "x": rand(x), "y": rand(y)}, opset=16)


@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (None, None), (2.0, 1.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.float16])
def test_clip(dtype, bounds):
    scale = 1 if np.issubdtype(dtype, np.floating) else 10
    lo, hi = bounds
    if np.dtype(dtype) == np.uint8:
        lo = None if lo is None else abs(lo)
    inputs = {"x": rand((3, 5), dtype),
              "min": None if lo is None else np.array(lo * scale, dtype),
              "max": None if hi is None else np.array(hi * scale, dtype)}
    check_onnx_op("Clip", inputs, opset=13, rtol=rtol_for(dtype))


def test_clip_bounds_as_initializers():
    x = rand((4, 4))
    check_onnx_op("Clip", {"x": x, "min": np.array(0, np.float32), "max": np.array(6, np.float32)},
                  opset=13, initializers={"min", "max"})
    check_onnx_op("Clip", {"x": x, "min": None, "max": np.array([0.5], np.float32)}, opset=13)


CAST_TYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16,
              np.uint32, np.uint64, np.bool_]


@pytest.mark.parametrize("target", CAST_TYPES)
@pytest.mark.parametrize("source", [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.uint64,
                                    np.bool_])
def test_cast(source, target):
    x = rand((3, 4), source, low=0, high=100) if np.issubdtype(source, np.floating) else rand((3, 4), source)
    if np.issubdtype(target, np.unsignedinteger) and not np.issubdtype(source, np.unsignedinteger):
        x = np.abs(x)
    to = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(target))
    check_onnx_op("Cast", {"x": x}, {"to": to}, opset=13, rtol=rtol_for(target))


@pytest.mark.parametrize("opset", [19, 21, 23])
def test_cast_newer_opsets(opset):
    x = rand((2, 3), np.float32)
    check_onnx_op("Cast", {"x": x}, {"to": onnx.TensorProto.FLOAT16, "saturate": 1}, opset=opset, rtol=1e-2)


@pytest.mark.parametrize("opset", [15, 19, 21])
def test_cast_like(opset):
    x = rand((2, 3), np.float32, 0, 50)
    check_onnx_op("CastLike", {"x": x, "like": np.zeros((1,), np.int32)}, opset=opset)
    check_onnx_op("CastLike", {"x": x, "like": np.zeros((), np.float16)}, opset=opset, rtol=1e-2)


# Unary math and activations

UNARY = {
    "Abs": (-3, 3), "Neg": (-3, 3), "Exp": (-10, 10), "Log": (0.01, 10), "Sqrt": (0, 10),
    "Reciprocal": (0.5, 3), "Sin": (-6, 6), "Cos": (-6, 6), "Tan": (-1.5, 1.5), "Asin": (-1, 1),
    "Acos": (-1, 1), "Atan": (-5, 5), "Sinh": (-5, 5), "Cosh": (-5, 5), "Asinh": (-5, 5), "Acosh": (1, 5),
    "Atanh": (-0.99, 0.99), "Tanh": (-5, 5), "Sigmoid": (-8, 8), "Erf": (-3, 3), "Floor": (-5, 5),
    "Ceil": (-5, 5), "Round": (-5, 5), "Sign": (-3, 3), "Softsign": (-5, 5), "Relu": (-3, 3),
    "Softplus": (-20, 20), "Mish": (-10, 10), "HardSwish": (-5, 5),
}


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), ()])
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_f32(op, shape):
    low, high = UNARY[op]
    check_onnx_op(op, {"x": rand(shape, np.float32, low, high)}, opset=13 if op not in ("Mish", "HardSwish") else 18)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
@pytest.mark.parametrize("op", ["Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Sin", "Cos", "Tanh", "Sigmoid",
                                "Erf", "Floor", "Ceil", "Round", "Sign", "Relu", "Softplus", "Softsign"])
def test_unary_other_floats(op, dtype):
    low, high = UNARY[op]
    check_onnx_op(op, {"x": rand((3, 4), dtype, low, high)}, opset=13, rtol=rtol_for(dtype))


@pytest.mark.parametrize("op,dtype", [("Abs", np.int32), ("Abs", np.int64), ("Abs", np.uint8), ("Abs", np.int8),
                                      ("Neg", np.int32), ("Neg", np.int64), ("Neg", np.int8), ("Sign", np.int32),
                                      ("Sign", np.int64), ("Sign", np.uint8), ("Relu", np.int32), ("Relu", np.int8),
                                      ("Relu", np.int64)])
def test_unary_integers(op, dtype):
    check_onnx_op(op, {"x": rand((3, 4), dtype)}, opset=14)


@pytest.mark.parametrize("backend,rtol", [("reference", 0), ("cpu", 1e-6)])
def test_sigmoid_tails(backend, rtol):
    # ONNX Runtime approximates sigmoid (0 at -19.5); the reference backend computes it to the last
    # bit, and the CPU backend's vectorized sigmoid to within 1e-6 of the largest value.
    x = np.array([-100, -30, -19.5, -15, -1e-8, 0, 1e-8, 15, 30, np.inf, -np.inf, np.nan], np.float32)
    expected = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    check_numpy("Sigmoid", {"x": x}, expected, opset=13, rtol=rtol, backend=backend)
    big = np.linspace(-100, 100, 20001).astype(np.float32)
    expected = (1 / (1 + np.exp(-big.astype(np.float64)))).astype(np.float32)
    check_numpy("Sigmoid", {"x": big}, expected, opset=13, rtol=rtol, backend=backend)


def test_round_half_to_even_and_special_values():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.3, -4.7, np.nan, np.inf, -np.inf, -0.0], np.float32)
    check_onnx_op("Round", {"x": x}, opset=22)
    check_onnx_op("Sign", {"x": x}, opset=13)


def test_is_nan_and_is_inf():
    x = np.array([np.nan, np.inf, -np.inf, 1, -0.0, 3e38], np.float32)
    check_onnx_op("IsNaN", {"x": x}, opset=13)
    check_onnx_op("IsNaN", {"x": x.astype(np.float64)}, opset=20)
    for neg in (0, 1):
        for pos in (0, 1):
            check_onnx_op("IsInf", {"x": x}, {"detect_negative": neg, "detect_positive": pos}, opset=13)
    check_onnx_op("IsInf", {"x": x.astype(np.float64)}, opset=20)


ACTIVATIONS = [
    ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {}), ("Elu", {"alpha": 0.5}),
    ("Selu", {}), ("Selu", {"alpha": 1.5, "gamma": 2.0}), ("Celu", {}), ("Celu", {"alpha": 2.0}),
    ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("ThresholdedRelu", {}),
    ("ThresholdedRelu", {"alpha": 0.5}), ("HardSwish", {}), ("Softplus", {}), ("Softsign", {}), ("Mish", {}),
    ("Shrink", {}), ("Shrink", {"lambd": 1.5, "bias": 0.7}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op,attrs", ACTIVATIONS)
def test_activations(op, attrs, dtype):
    opset = {"HardSwish": 14, "Mish": 18}.get(op, 13)
    if op == "Celu" and dtype == np.float64:
        opset = 28
    check_onnx_op(op, {"x": rand((2, 3, 5), dtype, -4, 4)}, attrs, opset=opset)


@pytest.mark.parametrize("op,attrs", ACTIVATIONS)
def test_activations_opset22(op, attrs):
    if op == "Celu":
        pytest.skip("Celu has no opset 22 form")
    check_onnx_op(op, {"x": rand((4, 6), np.float32, -4, 4)}, attrs, opset=22)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gelu(approximate, dtype):
    check_onnx_op("Gelu", {"x": rand((3, 7), dtype, -6, 6)}, {"approximate": approximate}, opset=20,
                  rtol=rtol_for(dtype))


@pytest.mark.parametrize("alpha", [1.0, 0.5, 1.702])
def test_swish(alpha):
    x = rand((3, 7), np.float32, -8, 8)
    expected = (x / (1 + np.exp(-alpha * x.astype(np.float64)))).astype(np.float32)
    check_numpy("Swish", {"x": x}, expected, {"alpha": alpha}, opset=24)


@pytest.mark.parametrize("slope_shape", [(), (1,), (5,), (3, 1), (3, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_prelu(slope_shape, dtype):
    x = rand((2, 3, 5), dtype)
    slope = rand(slope_shape, dtype, 0, 1) if np.issubdtype(dtype, np.floating) else rand(slope_shape, dtype)
    check_onnx_op("PRelu", {"x": x, "slope": slope}, opset=16)


@pytest.mark.parametrize("opset", [13, 14, 16])
def test_relu_sigmoid_prelu_opsets(opset):
    x = rand((4, 5))
    check_onnx_op("Relu", {"x": x}, opset=opset)
    check_onnx_op("Sigmoid", {"x": x}, opset=opset)
    check_onnx_op("PRelu", {"x": x, "slope": rand((5,))}, opset=opset)


# Errors

def test_bad_models_are_refused():
    x = rand((2, 3))
    failure = ember_error(single_op_model("Mod", {"a": x, "b": x}, {"fmod": 3}, opset=13), {"a": x, "b": x})
    assert failure.code == 1 and "fmod" in failure.stderr
    failure = ember_error(single_op_model("Gelu", {"x": x}, {"approximate": "fast"}, opset=20), {"x": x})
    assert failure.code == 1 and "approximate" in failure.stderr
    failure = ember_error(single_op_model("LeakyRelu", {"x": x}, {"beta": 1.0}, opset=16), {"x": x})
    assert failure.code == 1 and "beta" in failure.stderr
    model = single_op_model("Add", {"a": x, "b": rand((4,))}, opset=14)
    failure = ember_error(model, {"a": x, "b": rand((4,))})
    assert failure.code == 1
