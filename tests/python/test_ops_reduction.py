"""Reductions, arg max/min, softmax family, cumulative sum and top-k against ONNX Runtime."""
import numpy as np
import pytest
from harness import check_onnx_op, ember_error, rng, single_op_model

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceLogSumExp", "ReduceLogSum", "ReduceSumSquare"]
# The opset from which each reduction takes `axes` as an input.
AXES_INPUT_SINCE = {op: 18 for op in REDUCE_OPS} | {"ReduceSum": 13}


def positive_for(op, x):
    # Log-sums need positive sums; products stay small near 1.
    if op == "ReduceLogSum":
        return np.abs(x) + 0.1
    if op == "ReduceProd":
        return (1 + 0.1 * x).astype(x.dtype)
    return x


def reduce_case(op, x, axes, keepdims, opset, noop=None, axes_as_initializer=True, rtol=1e-5):
    inputs = {"x": x}
    attrs = {"keepdims": keepdims}
    if opset >= AXES_INPUT_SINCE[op]:
        if axes is not None:
            inputs["axes"] = np.array(axes, np.int64)
        if noop is not None:
            attrs["noop_with_empty_axes"] = noop
    elif axes is not None:
        attrs["axes"] = axes
    inits = {"axes"} if axes_as_initializer and "axes" in inputs else set()
    check_onnx_op(op, inputs, attrs, opset=opset, initializers=inits, rtol=rtol)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("shape,axes", [((3, 4, 5), [1]), ((3, 4, 5), [0, 2]), ((3, 4, 5), [-1]),
                                        ((2, 3, 4, 5), [1, -1]), ((6,), [0]), ((3, 4, 5), None)])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_f32_newest(op, shape, axes, keepdims):
    x = positive_for(op, rng(1).standard_normal(shape).astype(np.float32))
    reduce_case(op, x, axes, keepdims, opset=18)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("axes", [[1], [0, -1], None])
def test_reduce_older_opsets(op, opset, axes):
    x = positive_for(op, rng(2).standard_normal((3, 4, 5)).astype(np.float32))
    reduce_case(op, x, axes, keepdims=1, opset=opset)


@pytest.mark.parametrize("op", REDUCE_OPS)
def test_reduce_axes_as_runtime_input(op):
    x = positive_for(op, rng(3).standard_normal((3, 4, 5)).astype(np.float32))
    reduce_case(op, x, [0, 2], keepdims=0, opset=18, axes_as_initializer=False)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_empty_axes(op, noop):
    x = positive_for(op, rng(4).standard_normal((3, 4)).astype(np.float32))
    reduce_case(op, x, [], keepdims=1, opset=18, noop=noop)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_reduce_float_dtypes(op, dtype):
    x = positive_for(op, rng(5).standard_normal((4, 6)).astype(dtype))
    reduce_case(op, x, [1], keepdims=0, opset=18, rtol=2e-3 if dtype == np.float16 else 1e-5)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                                "ReduceSumSquare"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_reduce_integers(op, dtype):
    x = rng(6).integers(-5, 6, (3, 4, 5)).astype(dtype)
    if op == "ReduceProd":
        x = rng(6).integers(-2, 3, (3, 4, 5)).astype(dtype)
    reduce_case(op, x, [1, 2], keepdims=1, opset=18)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_reduce_max_min_small_integers(op, dtype):
    x = rng(7).integers(0, 100, (3, 5)).astype(dtype)
    reduce_case(op, x, [0], keepdims=0, opset=20)


def test_reduce_sum_dynamic_batch_shape():
    # An input with a symbolic batch dim still reduces over the given axes.
    x = rng(8).standard_normal((2, 3, 4)).astype(np.float32)
    reduce_case("ReduceSum", x, [0], keepdims=0, opset=13)


def test_reduce_duplicate_axes_are_refused():
    x = np.zeros((2, 3), np.float32)
    model = single_op_model("ReduceSum", {"x": x, "axes": np.array([1, -1], np.int64)}, {}, opset=13,
                            initializers={"axes"})
    failure = ember_error(model, {"x": x})
    assert failure.code == 1 and "reduce_sum" in failure.stderr


def test_reduce_axis_out_of_range_is_refused():
    x = np.zeros((2, 3), np.float32)
    model = single_op_model("ReduceMean", {"x": x}, {"axes": [2]}, opset=13)
    failure = ember_error(model, {"x": x})
    assert failure.code == 1 and "out of range" in failure.stderr


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("select_last_index", [0, 1])
def test_arg_max_min(op, axis, keepdims, select_last_index):
    # Small integers make ties, which select_last_index decides.
    x = rng(9).integers(0, 4, (3, 4, 5)).astype(np.float32)
    check_onnx_op(op, {"x": x}, {"axis": axis, "keepdims": keepdims, "select_last_index": select_last_index},
                  opset=13)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int64, np.int32, np.int8, np.uint8])
def test_arg_max_min_dtypes(op, dtype):
    x = rng(10).integers(0, 50, (4, 6)).astype(dtype)
    check_onnx_op(op, {"x": x}, {"axis": 1}, opset=13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_softmax_family_axes(op, axis):
    x = (3 * rng(11).standard_normal((3, 4, 5))).astype(np.float32)
    check_onnx_op(op, {"x": x}, {"axis": axis}, opset=13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_softmax_family_dtypes(op, dtype):
    if op == "Hardmax" and dtype == np.float64:
        pytest.skip("ONNX Runtime has no f64 Hardmax kernel")
    x = rng(12).standard_normal((4, 7)).astype(dtype)
    check_onnx_op(op, {"x": x}, {}, opset=13, rtol=2e-3 if dtype == np.float16 else 1e-5)


def test_softmax_large_values_do_not_overflow():
    x = np.array([[1000, 1001, 1002], [-1000, -1001, -1002]], np.float32)
    check_onnx_op("Softmax", {"x": x}, {"axis": -1}, opset=13)
    check_onnx_op("LogSoftmax", {"x": x}, {"axis": -1}, opset=13)


def test_softmax_bert_attention_shape():
    x = rng(13).standard_normal((3, 12, 128, 128)).astype(np.float32)
    check_onnx_op("Softmax", {"x": x}, {"axis": -1}, opset=13)


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(exclusive, reverse, axis):
    x = rng(14).standard_normal((3, 4, 5)).astype(np.float32)
    check_onnx_op("CumSum", {"x": x, "axis": np.array(axis, np.int64)},
                  {"exclusive": exclusive, "reverse": reverse}, opset=14, initializers={"axis"})


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
@pytest.mark.parametrize("axis_dtype", [np.int32, np.int64])
def test_cumsum_dtypes(dtype, axis_dtype):
    x = rng(15).integers(-10, 10, (4, 5)).astype(dtype)
    check_onnx_op("CumSum", {"x": x, "axis": np.array(1, axis_dtype)}, {}, opset=14)


@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("k", [1, 3])
def test_topk(largest, axis, k):
    # Repeated values: ties must keep the lower index first.
    x = rng(16).integers(0, 5, (4, 5, 6)).astype(np.float32)
    check_onnx_op("TopK", {"x": x, "k": np.array([k], np.int64)}, {"axis": axis, "largest": largest},
                  opset=13, outputs=2, initializers={"k"})


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int64, np.int32, np.uint8])
def test_topk_dtypes(dtype):
    x = rng(17).integers(0, 100, (3, 8)).astype(dtype)
    check_onnx_op("TopK", {"x": x, "k": np.array([4], np.int64)}, {}, opset=24, outputs=2)


def test_topk_k_as_runtime_input_and_whole_axis():
    x = rng(18).standard_normal((2, 6)).astype(np.float32)
    check_onnx_op("TopK", {"x": x, "k": np.array([6], np.int64)}, {}, opset=13, outputs=2)


def test_topk_k_too_large_is_refused():
    x = np.zeros((2, 3), np.float32)
    model = single_op_model("TopK", {"x": x, "k": np.array([4], np.int64)}, {}, opset=13, outputs=2)
    failure = ember_error(model, {"x": x, "k": np.array([4], np.int64)})
    assert failure.code == 1 and "k <= 3" in failure.stderr


@pytest.mark.parametrize("op,attrs,extra", [
    ("ArgMax", {"axis": 3}, {}),
    ("Softmax", {"axis": -4}, {}),
    ("Hardmax", {"axis": 3}, {}),
    ("TopK", {"axis": 5}, {"k": np.array([1], np.int64)}),
    ("TopK", {}, {"k": np.array([-1], np.int64)}),
    ("CumSum", {}, {"axis": np.array(3, np.int64)}),
])
def test_bad_axis_or_k_is_refused(op, attrs, extra):
    x = np.zeros((2, 3, 4), np.float32)
    inputs = {"x": x, **extra}
    model = single_op_model(op, inputs, attrs, opset=13, outputs=2 if op == "TopK" else 1)
    failure = ember_error(model, inputs)
    assert failure.code == 1 and "error:" in failure.stderr
