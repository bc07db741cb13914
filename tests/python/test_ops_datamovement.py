"""Data movement ops (shapes, indexing, scatter, padding, resizing, constants) against ONNX Runtime.

Each case builds a one-node model, runs it on ONNX Runtime and on ember's reference backend, and
compares whole tensors. Shape-like inputs are given both as initializers (constants that shape
inference reads) and as graph inputs (values known only at run time). Dtype combinations that ONNX
Runtime itself has no kernel for are skipped, with the reason.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from harness import (assert_close, check_onnx_op, ember_error, rng, run_ember, run_onnxruntime,
                     single_op_model)

INT_MAX = np.iinfo(np.int64).max
INT_MIN = np.iinfo(np.int64).min
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8,
          np.uint16, np.uint32, np.uint64, np.bool_]


def data(shape, dtype=np.float32, seed=0):
    """Random values of `dtype`: normals for floats, small integers, or booleans."""
    r = rng(seed)
    if dtype == np.bool_:
        return np.asarray(r.random(shape) > 0.5)
    if np.issubdtype(dtype, np.floating):
        return np.asarray(r.standard_normal(shape), dtype=dtype)
    low = 0 if np.issubdtype(dtype, np.unsignedinteger) else -50
    return np.asarray(r.integers(low, 50, size=shape), dtype=dtype)


def i64(*values):
    return np.array(values, dtype=np.int64)


def check(op, inputs, attrs=None, opset=18, outputs=1, rtol=1e-5, consts=()):
    """check_onnx_op, skipping combinations ONNX Runtime does not implement."""
    try:
        return check_onnx_op(op, inputs, attrs or {}, opset=opset, outputs=outputs, rtol=rtol,
                             initializers=set(consts))
    except Exception as e:  # onnxruntime raises its own exception types
        text = str(e)
        if "NOT_IMPLEMENTED" in text or "Could not find an implementation" in text:
            pytest.skip(f"ONNX Runtime has no kernel: {text.splitlines()[0][:160]}")
        raise


def assert_refused(op, inputs, attrs=None, opset=18, consts=(), outputs=1, message=None):
    model = single_op_model(op, inputs, attrs or {}, opset, outputs, set(consts))
    feeds = {n: v for n, v in inputs.items() if v is not None and n not in consts}
    failure = ember_error(model, feeds)
    assert failure.code == 1
    if message:
        assert message in failure.stderr, failure.stderr


# Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Identity

@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_dtypes(dtype):
    check("Reshape", {"x": data((2, 3, 4), dtype), "s": i64(4, -1)}, consts={"s"})


@pytest.mark.parametrize("shape,target", [
    ((2, 3, 4), (0, 0, 2, 2)), ((2, 3, 4), (-1,)), ((2, 3, 4), (0, -1)), ((2, 3, 4), (6, -1, 2)),
    ((1, 12), (0, 3, -1)), ((24,), (2, 3, 4)), ((2, 0, 3), (0, -1)), ((), (1,)), ((1,), ()),
])
@pytest.mark.parametrize("const", [True, False])
def test_reshape_shapes(shape, target, const):
    check("Reshape", {"x": data(shape), "s": np.array(target, np.int64)}, consts={"s"} if const else ())


@pytest.mark.parametrize("opset", [13, 14, 19, 21])
def test_reshape_allowzero_and_opsets(opset):
    if opset >= 14:
        check("Reshape", {"x": data((0, 3)), "s": i64(3, 0)}, {"allowzero": 1}, opset=opset, consts={"s"})
    check("Reshape", {"x": data((2, 3)), "s": i64(0, 3)}, opset=opset, consts={"s"})


def test_reshape_bad_shape_refused():
    assert_refused("Reshape", {"x": data((2, 3)), "s": i64(4, -1)}, consts={"s"})
    assert_refused("Reshape", {"x": data((2, 3)), "s": i64(-1, -1)})


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -3])
@pytest.mark.parametrize("opset", [13, 21])
def test_flatten(axis, opset):
    check("Flatten", {"x": data((2, 3, 4))}, {"axis": axis}, opset=opset)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_dtypes(dtype):
    check("Flatten", {"x": data((2, 3, 4), dtype)})


@pytest.mark.parametrize("shape,perm", [
    ((2, 3), None), ((2, 3, 4), None), ((2, 3, 4), (1, 0, 2)), ((2, 3, 4, 5), (0, 2, 1, 3)),
    ((2, 3, 4, 5), (3, 1, 0, 2)), ((1, 5, 1), (2, 0, 1)), ((), None), ((3, 0, 2), (2, 1, 0)),
])
def test_transpose(shape, perm):
    check("Transpose", {"x": data(shape)}, {"perm": list(perm)} if perm else {})


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_dtypes(dtype):
    check("Transpose", {"x": data((2, 3, 4), dtype)}, {"perm": [2, 0, 1]}, opset=13)


def test_transpose_bad_perm_refused():
    assert_refused("Transpose", {"x": data((2, 3))}, {"perm": [0, 0]})


@pytest.mark.parametrize("axes", [None, (0,), (-1,), (0, 2), ()])
@pytest.mark.parametrize("const", [True, False])
def test_squeeze(axes, const):
    inputs = {"x": data((1, 3, 1))}
    if axes is not None:
        inputs["a"] = np.array(axes, np.int64)
    check("Squeeze", inputs, opset=13, consts={"a"} if const else ())


def test_squeeze_non_unit_refused():
    assert_refused("Squeeze", {"x": data((1, 3)), "a": i64(1)}, consts={"a"})


@pytest.mark.parametrize("shape,axes", [((3,), (0,)), ((3,), (-1,)), ((2, 3), (0, 3)), ((2, 3), (1, -1)),
                                         ((), (0,)), ((2,), (2, 0, 1))])
@pytest.mark.parametrize("const", [True, False])
def test_unsqueeze(shape, axes, const):
    check("Unsqueeze", {"x": data(shape), "a": np.array(axes, np.int64)}, opset=13,
          consts={"a"} if const else ())


@pytest.mark.parametrize("dtype", [np.float16, np.int8, np.bool_])
def test_squeeze_unsqueeze_dtypes(dtype):
    check("Squeeze", {"x": data((1, 3), dtype), "a": i64(0)}, consts={"a"})
    check("Unsqueeze", {"x": data((3,), dtype), "a": i64(1)}, consts={"a"})


@pytest.mark.parametrize("dtype", DTYPES)
def test_identity(dtype):
    check("Identity", {"x": data((2, 3), dtype)}, opset=13)


# Concat, Split, Slice

@pytest.mark.parametrize("shapes,axis", [
    (((2, 3), (2, 5)), 1), (((2, 3), (4, 3), (1, 3)), 0), (((2, 3, 4), (2, 3, 1)), -1),
    (((2, 0), (2, 3)), 1), (((3,),), 0), (((1, 2, 3), (1, 2, 3), (1, 2, 3)), -2),
])
def test_concat(shapes, axis):
    inputs = {f"x{i}": data(s, seed=i) for i, s in enumerate(shapes)}
    check("Concat", inputs, {"axis": axis}, opset=13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_concat_dtypes(dtype):
    check("Concat", {"a": data((2, 2), dtype), "b": data((2, 1), dtype, 1)}, {"axis": 1})


def test_concat_mismatch_refused():
    assert_refused("Concat", {"a": data((2, 2)), "b": data((3, 1))}, {"axis": 1})


@pytest.mark.parametrize("shape,axis,split", [
    ((6, 2), 0, (2, 4)), ((2, 7), 1, (3, 0, 4)), ((2, 3, 4), -1, (1, 1, 2)), ((4,), 0, (4,)),
])
@pytest.mark.parametrize("const", [True, False])
def test_split_sizes(shape, axis, split, const):
    check("Split", {"x": data(shape), "s": np.array(split, np.int64)}, {"axis": axis}, opset=13,
          outputs=len(split), consts={"s"} if const else ())


@pytest.mark.parametrize("shape,axis,n", [((6, 2), 0, 3), ((2, 10), 1, 3), ((2, 7), -1, 4), ((5,), 0, 2),
                                           ((2, 3), 1, 3)])
def test_split_num_outputs(shape, axis, n):
    check("Split", {"x": data(shape)}, {"axis": axis, "num_outputs": n}, opset=18, outputs=n)


@pytest.mark.parametrize("opset", [13, 17])
def test_split_equal_old_opsets(opset):
    check("Split", {"x": data((2, 6), np.int32)}, {"axis": 1}, opset=opset, outputs=3)


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.uint8, np.bool_])
def test_split_dtypes(dtype):
    check("Split", {"x": data((4, 2), dtype)}, {"num_outputs": 2}, outputs=2)


def test_split_bad_sizes_refused():
    assert_refused("Split", {"x": data((5,)), "s": i64(2, 2)}, consts={"s"}, outputs=2)


SLICES = [
    ((10,), (2,), (7,), None, None),
    ((10,), (-3,), (INT_MAX,), None, None),
    ((10,), (INT_MIN,), (-2,), None, None),
    ((10,), (-1,), (INT_MIN,), (0,), (-1,)),
    ((10,), (8,), (1,), (0,), (-3,)),
    ((10,), (1,), (100,), (0,), (4,)),
    ((10,), (5,), (2,), None, None),
    ((4, 5, 6), (1, 0), (3, -1), (0, 2), None),
    ((4, 5, 6), (0, 4, 1), (3, 0, 6), (-3, -2, -1), (2, -1, 2)),
    ((4, 5, 6), (-100,), (100,), (1,), None),
    ((3, 4), (1,), (2,), (-1,), (INT_MAX,)),
]


@pytest.mark.parametrize("case", SLICES)
@pytest.mark.parametrize("const", [True, False])
def test_slice(case, const):
    shape, starts, ends, axes, steps = case
    inputs = {"x": data(shape), "starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64)}
    inputs["axes"] = np.array(axes, np.int64) if axes is not None else None
    inputs["steps"] = np.array(steps, np.int64) if steps is not None else None
    if axes is None and steps is not None:
        inputs["axes"] = np.arange(len(starts), dtype=np.int64)
    consts = {"starts", "ends", "axes", "steps"} if const else ()
    check("Slice", inputs, opset=13, consts=consts)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slice_dtypes(dtype):
    check("Slice", {"x": data((4, 5), dtype), "s": i64(1, -1), "e": i64(3, 0), "a": i64(0, 1), "t": i64(1, -2)},
          consts={"s", "e", "a", "t"})


def test_slice_int32_indices():
    inputs = {"x": data((4, 5)), "s": np.array([1], np.int32), "e": np.array([3], np.int32)}
    check("Slice", inputs, consts={"s", "e"})


def test_slice_zero_step_refused():
    assert_refused("Slice", {"x": data((4,)), "s": i64(0), "e": i64(2), "a": i64(0), "t": i64(0)})


# Gather, GatherElements, GatherND

@pytest.mark.parametrize("shape,indices,axis", [
    ((5, 3), [[0, 4], [-1, 2]], 0), ((5, 3), [2, 0, 1, 2], 1), ((2, 3, 4), [[1], [-4]], -1),
    ((5,), 3, 0), ((3, 4), [], 0), ((2, 3, 4), [[0, 1, 2]], 1),
])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_gather(shape, indices, axis, index_dtype):
    check("Gather", {"x": data(shape), "i": np.array(indices, index_dtype)}, {"axis": axis}, opset=13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_dtypes(dtype):
    check("Gather", {"x": data((4, 3), dtype), "i": i64(3, 0, 0)}, {"axis": 0})


def test_gather_embedding_const_table():
    table = data((100, 16))
    check("Gather", {"w": table, "i": rng(3).integers(0, 100, (3, 7)).astype(np.int64)}, consts={"w"})


def test_gather_out_of_range_refused():
    assert_refused("Gather", {"x": data((3, 2)), "i": i64(3)})


@pytest.mark.parametrize("shape,ishape,axis", [((3, 3), (2, 3), 0), ((3, 4), (3, 2), 1), ((2, 3, 4), (2, 3, 5), -1),
                                               ((4,), (6,), 0)])
def test_gather_elements(shape, ishape, axis):
    size = shape[axis]
    indices = rng(2).integers(-size, size, ishape).astype(np.int64)
    check("GatherElements", {"x": data(shape), "i": indices}, {"axis": axis}, opset=13)


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.uint8, np.bool_])
def test_gather_elements_dtypes(dtype):
    check("GatherElements", {"x": data((2, 3), dtype), "i": np.array([[2, 0], [1, 1]], np.int32)}, {"axis": 1})


def test_gather_elements_out_of_range_refused():
    assert_refused("GatherElements", {"x": data((2, 2)), "i": np.array([[0, 2]], np.int64)}, {"axis": 1})


@pytest.mark.parametrize("shape,indices,batch_dims", [
    ((2, 2), [[0, 0], [1, 1]], 0), ((2, 2), [[1], [0]], 0), ((2, 2, 2), [[0, 1], [1, 0]], 0),
    ((2, 2, 2), [[[0, 1]], [[1, 0]]], 0), ((2, 2, 2), [[1], [0]], 1), ((2, 3, 4), [[[1, -1]], [[0, 2]]], 1),
    ((2, 3, 4, 2), [[[1], [2]], [[0], [1]]], 1), ((2, 3, 4), [[[2], [1]], [[0], [0]]], 1),
    ((2, 2, 3, 2), [[[1]], [[0]]], 2) if False else ((2, 2, 3), [[[1], [0]], [[2], [1]]], 2),
])
def test_gather_nd(shape, indices, batch_dims):
    check("GatherND", {"x": data(shape), "i": np.array(indices, np.int64)}, {"batch_dims": batch_dims}, opset=13)


@pytest.mark.parametrize("dtype", [np.float64, np.int8, np.bool_])
def test_gather_nd_dtypes(dtype):
    check("GatherND", {"x": data((3, 2), dtype), "i": np.array([[2], [0]], np.int64)})


# ScatterND, ScatterElements

@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_scatter_nd(reduction, dtype):
    x = data((4, 3, 2), dtype)
    indices = np.array([[1], [3], [1]] if reduction != "none" else [[1], [3], [0]], np.int64)
    updates = data((3, 3, 2), dtype, seed=5)
    check("ScatterND", {"x": x, "i": indices, "u": updates}, {"reduction": reduction}, opset=18)


def test_scatter_nd_tuples_and_old_opsets():
    x = data((4, 3))
    check("ScatterND", {"x": x, "i": np.array([[0, 1], [-1, 2]], np.int64), "u": data((2,), seed=1)}, opset=13)
    check("ScatterND", {"x": x, "i": np.array([[0, 1], [0, 1]], np.int64), "u": data((2,), seed=1)},
          {"reduction": "add"}, opset=16)


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.bool_])
def test_scatter_nd_dtypes(dtype):
    check("ScatterND", {"x": data((4,), dtype), "i": np.array([[1], [2]], np.int64), "u": data((2,), dtype, 1)})


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_elements(reduction, axis):
    x = data((3, 4))
    size = x.shape[axis]
    indices = rng(4).integers(-size, size, (2, 3)).astype(np.int64)
    if reduction == "none":  # unique targets along the axis keep the result well defined
        indices = np.array([[0, 1, 2], [2, 0, 1]], np.int64) if axis == 0 else np.array([[0, 3, 1], [2, 1, 0]], np.int64)
        indices = indices[:, :3] if axis == 0 else indices
    updates = data((2, 3), seed=6)
    check("ScatterElements", {"x": x, "i": indices, "u": updates}, {"axis": axis, "reduction": reduction}, opset=18)


def test_scatter_elements_old_opsets():
    x = data((3, 3), np.int64)
    i = np.array([[1, 0, 2]], np.int32)
    u = data((1, 3), np.int64, 2)
    check("ScatterElements", {"x": x, "i": i, "u": u}, {"axis": 0}, opset=13)
    check("ScatterElements", {"x": x, "i": i, "u": u}, {"axis": 0, "reduction": "mul"}, opset=16)


def test_scatter_out_of_range_refused():
    assert_refused("ScatterND", {"x": data((4,)), "i": np.array([[4]], np.int64), "u": data((1,))})
    assert_refused("ScatterElements", {"x": data((2, 2)), "i": np.array([[2]], np.int64), "u": data((1, 1))})


# Expand, Tile, Pad

@pytest.mark.parametrize("shape,target", [((3, 1), (2, 1, 6)), ((3,), (2, 3)), ((1, 3), (3, 1)), ((2, 3), (1,)),
                                          ((), (2, 2)), ((2, 1, 4), (1, 5, 1))])
@pytest.mark.parametrize("const", [True, False])
def test_expand(shape, target, const):
    check("Expand", {"x": data(shape), "s": np.array(target, np.int64)}, opset=13, consts={"s"} if const else ())


@pytest.mark.parametrize("dtype", DTYPES)
def test_expand_dtypes(dtype):
    check("Expand", {"x": data((2, 1), dtype), "s": i64(2, 3)}, consts={"s"})


def test_expand_incompatible_refused():
    assert_refused("Expand", {"x": data((3,)), "s": i64(2)}, consts={"s"})


@pytest.mark.parametrize("shape,repeats", [((2, 3), (1, 2)), ((2, 3), (3, 1)), ((2,), (4,)), ((1, 2, 2), (2, 0, 3))])
@pytest.mark.parametrize("const", [True, False])
def test_tile(shape, repeats, const):
    check("Tile", {"x": data(shape), "r": np.array(repeats, np.int64)}, opset=13, consts={"r"} if const else ())


@pytest.mark.parametrize("dtype", DTYPES)
def test_tile_dtypes(dtype):
    check("Tile", {"x": data((2, 2), dtype), "r": i64(2, 1)}, consts={"r"})


PADS = [((2, 3), (0, 1, 0, 2)), ((2, 3), (1, 2, 1, 2)), ((1, 2, 4, 4), (0, 0, 1, 2, 0, 0, 2, 1)),
        ((3, 4), (0, -1, 1, -2)), ((5,), (4, 4))]


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("shape,pads", PADS)
def test_pad_modes(mode, shape, pads):
    if mode == "reflect" and any(p >= min(shape) for p in pads):
        pytest.skip("ONNX Runtime refuses reflect pads wider than the dim")
    inputs = {"x": data(shape), "p": np.array(pads, np.int64)}
    if mode == "constant":
        inputs["c"] = np.array(1.5, np.float32)
    check("Pad", inputs, {"mode": mode}, opset=19, consts={"p"})


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_old_opsets(opset, mode):
    check("Pad", {"x": data((3, 4)), "p": i64(1, 0, 2, 1)}, {"mode": mode}, opset=opset)


def test_pad_axes():
    inputs = {"x": data((2, 3, 4)), "p": i64(1, 2, 0, 3), "c": np.array(-1, np.float32), "a": i64(-1, 0)}
    check("Pad", inputs, opset=18, consts={"p", "a"})
    check("Pad", dict(inputs), opset=18)
    check("Pad", {"x": data((2, 3, 4)), "p": i64(1, 1), "c": None, "a": i64(1)}, {"mode": "edge"}, opset=19)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pad_dtypes(dtype):
    check("Pad", {"x": data((2, 3), dtype), "p": i64(1, 0, 0, 2), "c": np.array(1, dtype)}, consts={"p"})


def test_pad_bad_pads_refused():
    assert_refused("Pad", {"x": data((2, 3)), "p": i64(1, 1)}, consts={"p"})


# DepthToSpace, SpaceToDepth

@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("shape,block", [((1, 8, 2, 3), 2), ((2, 18, 1, 2), 3), ((1, 4, 3, 3), 1)])
def test_depth_to_space(mode, shape, block):
    check("DepthToSpace", {"x": data(shape)}, {"blocksize": block, "mode": mode}, opset=13)


@pytest.mark.parametrize("shape,block", [((1, 2, 4, 6), 2), ((2, 1, 3, 6), 3)])
def test_space_to_depth(shape, block):
    check("SpaceToDepth", {"x": data(shape)}, {"blocksize": block}, opset=13)


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.uint8])
def test_depth_space_dtypes(dtype):
    check("DepthToSpace", {"x": data((1, 4, 2, 2), dtype)}, {"blocksize": 2})
    check("SpaceToDepth", {"x": data((1, 1, 4, 4), dtype)}, {"blocksize": 2})


# Shape, Size, Constant, ConstantOfShape, Range

@pytest.mark.parametrize("start,end", [(None, None), (1, None), (-1, None), (0, -1), (1, 3), (-10, 10), (3, 1)])
def test_shape(start, end):
    attrs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    check("Shape", {"x": data((2, 3, 4, 5))}, attrs, opset=15 if attrs else 13)


@pytest.mark.parametrize("shape", [(), (0,), (2, 3), (2, 3, 4)])
def test_size(shape):
    check("Size", {"x": data(shape)}, opset=13)
    check("Shape", {"x": data(shape, np.int8)}, opset=21)


@pytest.mark.parametrize("attr,value", [
    ("value_float", 2.5), ("value_floats", [1.0, 2.0]), ("value_int", 7), ("value_ints", [3, 1, 2]),
])
def test_constant_forms(attr, value):
    check("Constant", {}, {attr: value}, opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.bool_])
def test_constant_tensor(dtype):
    from onnx import numpy_helper
    check("Constant", {}, {"value": numpy_helper.from_array(data((2, 3), dtype))}, opset=21)


@pytest.mark.parametrize("dtype", [None, np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("shape", [(2, 3), (), (4, 0)])
@pytest.mark.parametrize("const", [True, False])
def test_constant_of_shape(dtype, shape, const):
    from onnx import numpy_helper
    attrs = {} if dtype is None else {"value": numpy_helper.from_array(np.array([1], dtype))}
    check("ConstantOfShape", {"s": np.array(shape, np.int64)}, attrs, opset=13, consts={"s"} if const else ())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.int16])
@pytest.mark.parametrize("start,limit,delta", [(0, 10, 3), (1, -1, -1), (5, 1, 1), (-2, 7, 2), (3, 3, 1)])
@pytest.mark.parametrize("const", [True, False])
def test_range(dtype, start, limit, delta, const):
    inputs = {"a": np.array(start, dtype), "b": np.array(limit, dtype), "c": np.array(delta, dtype)}
    check("Range", inputs, opset=13, consts={"a", "b", "c"} if const else ())


def test_range_fractional():
    check("Range", {"a": np.array(0.1, np.float32), "b": np.array(2.35, np.float32), "c": np.array(0.25, np.float32)})


# Dropout, Trilu, OneHot, NonZero, EyeLike, Compress, ReverseSequence

@pytest.mark.parametrize("opset", [13, 22])
def test_dropout_inference(opset):
    x = data((3, 4))
    check("Dropout", {"x": x}, opset=opset)
    check("Dropout", {"x": x, "r": np.array(0.3, np.float32)}, opset=opset, outputs=2, consts={"r"})
    check("Dropout", {"x": x, "r": np.array(0.3, np.float32), "t": np.array(False)}, {"seed": 1}, opset=opset,
          outputs=2)


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 1, -1, 5, -5])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3)])
def test_trilu(upper, k, shape):
    inputs = {"x": data(shape)}
    if k is not None:
        inputs["k"] = np.array(k, np.int64)
    check("Trilu", inputs, {"upper": upper}, opset=14)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.float64])
def test_trilu_dtypes(dtype):
    check("Trilu", {"x": data((3, 3), dtype)})


@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32, np.float32])
def test_one_hot(axis, index_dtype):
    indices = np.array([[0, 3, -1], [2, 7, -5]], index_dtype)
    inputs = {"i": indices, "d": np.array(4, np.int64), "v": np.array([0.5, 2], np.float32)}
    check("OneHot", inputs, {"axis": axis}, opset=13 if axis == -1 else 21, consts={"d"})


def test_one_hot_value_dtypes():
    check("OneHot", {"i": i64(1, 0), "d": np.array(3.0, np.float32), "v": i64(0, 9)})
    check("OneHot", {"i": i64(1, 0), "d": np.array(3, np.int32), "v": np.array([1, 1], np.int32)})


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 2, 3), ()])
def test_non_zero(dtype, shape):
    x = data(shape, dtype)
    if dtype != np.bool_:
        x = np.asarray(x * (rng(7).random(shape) > 0.5), dtype=dtype)
    check("NonZero", {"x": x}, opset=13)


@pytest.mark.parametrize("k", [0, 1, -2, 9])
@pytest.mark.parametrize("out", [None, 1, 6, 7, 9])
def test_eye_like(k, out):
    attrs = {"k": k}
    if out is not None:
        attrs["dtype"] = out
    check("EyeLike", {"x": data((3, 5))}, attrs, opset=13)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("const", [True, False])
def test_compress(axis, const):
    x = data((3, 4))
    condition = np.array([True, False, True], np.bool_) if axis in (0,) else np.array([0, 1, 1, 0, 1], np.bool_)
    if axis in (1, -1):
        condition = np.array([True, False, True, True])
    attrs = {} if axis is None else {"axis": axis}
    check("Compress", {"x": x, "c": condition}, attrs, opset=13, consts={"c"} if const else ())


def test_compress_short_condition_and_dtypes():
    check("Compress", {"x": data((4, 2), np.int32), "c": np.array([False, True])}, {"axis": 0})
    check("Compress", {"x": data((4,), np.bool_), "c": np.array([True, False, True, True])}, {"axis": 0})


@pytest.mark.parametrize("batch_axis,time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence(batch_axis, time_axis):
    shape = (4, 3, 2) if batch_axis == 1 else (3, 4, 2)
    lens = np.array([4, 1, 3], np.int64)
    check("ReverseSequence", {"x": data(shape), "l": lens}, {"batch_axis": batch_axis, "time_axis": time_axis},
          opset=13)


def test_reverse_sequence_dtypes():
    check("ReverseSequence", {"x": data((3, 2), np.int64), "l": i64(2, 3)}, {"batch_axis": 1, "time_axis": 0})


# Resize

COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"]


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("scales", [(1, 1, 2, 2), (1, 1, 0.5, 0.75), (1, 1, 1.7, 0.6), (1, 1, 3, 1)])
def test_resize_scales(mode, coord, scales):
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    inputs = {"x": data((1, 2, 4, 5)), "roi": None, "scales": np.array(scales, np.float32)}
    check("Resize", inputs, attrs, opset=19, consts={"scales"}, rtol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("sizes", [(1, 2, 8, 3), (1, 2, 3, 7), (1, 2, 1, 1)])
def test_resize_sizes(mode, coord, sizes):
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    inputs = {"x": data((1, 2, 4, 5)), "roi": None, "scales": None, "sizes": np.array(sizes, np.int64)}
    check("Resize", inputs, attrs, opset=19, consts={"sizes"})


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
@pytest.mark.parametrize("coord", ["asymmetric", "half_pixel", "align_corners", "tf_half_pixel_for_nn"])
def test_resize_nearest_modes(nearest_mode, coord):
    attrs = {"mode": "nearest", "nearest_mode": nearest_mode, "coordinate_transformation_mode": coord}
    inputs = {"x": data((1, 1, 5, 4)), "roi": np.array([], np.float32), "scales": np.array([1, 1, 2.5, 0.75], np.float32)}
    check("Resize", inputs, attrs, opset=13 if coord == "tf_half_pixel_for_nn" else 18, consts={"roi", "scales"})


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_tf_crop_and_resize(mode):
    attrs = {"mode": mode, "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 3.0}
    roi = np.array([0, 0, 0.2, -0.3, 1, 1, 0.9, 1.2], np.float32)
    inputs = {"x": data((1, 2, 6, 5)), "roi": roi, "scales": None, "sizes": i64(1, 2, 4, 7)}
    check("Resize", inputs, attrs, opset=13, consts={"roi", "sizes"})


@pytest.mark.parametrize("a,exclude", [(-0.75, 0), (-0.5, 1), (-0.75, 1)])
def test_resize_cubic_options(a, exclude):
    attrs = {"mode": "cubic", "cubic_coeff_a": a, "exclude_outside": exclude}
    inputs = {"x": data((1, 1, 5, 6)), "roi": None, "scales": np.array([1, 1, 1.5, 0.8], np.float32)}
    check("Resize", inputs, attrs, opset=18, consts={"scales"})


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_axes_and_aspect_ratio(policy, mode):
    # ONNX Runtime ignores the policy for negative axes (its own shape inference disagrees), so the
    # policies are checked with positive axes and negative axes with the default policy.
    axes = [2, -1] if policy == "stretch" else [2, 3]
    attrs = {"mode": mode, "axes": axes, "keep_aspect_ratio_policy": policy}
    inputs = {"x": data((1, 2, 4, 6)), "roi": None, "scales": None, "sizes": i64(7, 5)}
    check("Resize", inputs, attrs, opset=18, consts={"sizes"})


def test_resize_axes_with_scales():
    inputs = {"x": data((2, 3, 4)), "roi": None, "scales": np.array([2.0, 0.5], np.float32)}
    check("Resize", inputs, {"mode": "linear", "axes": [0, 2]}, opset=18, consts={"scales"})


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("scales", [(1, 1, 0.5, 0.4), (1, 1, 0.7, 1.5)])
def test_resize_antialias(mode, scales):
    attrs = {"mode": mode, "antialias": 1}
    inputs = {"x": data((1, 2, 10, 12)), "roi": None, "scales": np.array(scales, np.float32)}
    check("Resize", inputs, attrs, opset=18, consts={"scales"}, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.uint8, np.int64, np.float16, np.float64, np.bool_])
def test_resize_nearest_dtypes(dtype):
    inputs = {"x": data((1, 1, 3, 3), dtype), "roi": None, "scales": np.array([1, 1, 2, 1.5], np.float32)}
    check("Resize", inputs, {"mode": "nearest"}, opset=18, consts={"scales"})


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.float16, np.float64])
def test_resize_linear_dtypes(dtype):
    # Integer results truncate, so the scales keep the weights exact in binary (quarters): where a
    # weighted sum is an exact integer, ONNX Runtime's f32 rounding noise could otherwise land on
    # either side of it.
    inputs = {"x": data((1, 1, 3, 4), dtype), "roi": None, "scales": np.array([1, 1, 2, 4], np.float32)}
    check("Resize", inputs, {"mode": "linear"}, opset=18, consts={"scales"}, rtol=1e-3)


def test_resize_runtime_scales():
    inputs = {"x": data((1, 2, 3, 4)), "roi": None, "scales": np.array([1, 1, 2, 2], np.float32)}
    check("Resize", inputs, {"mode": "linear"}, opset=13)


@pytest.mark.parametrize("case", [
    ({"mode": "linear"}, (1, 3, 7, 9), (1, 1, 2.5, 0.6)),
    ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, (2, 4, 5, 6), (1, 1, 4, 4)),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, (1, 16, 3, 3), (1, 1, 8, 8)),
    ({"mode": "cubic", "exclude_outside": 1}, (1, 2, 6, 5), (1, 1, 1.5, 0.8)),
    ({"mode": "linear", "antialias": 1}, (1, 2, 12, 10), (1, 1, 0.4, 0.5)),
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, (2, 3, 4, 5), (1, 1, 2, 3)),
    ({"mode": "linear"}, (3, 40), (2.5, 0.5)),
    ({"mode": "linear"}, (1, 2, 4, 6, 5), (1, 1, 2, 0.5, 1.5)),
])
def test_resize_cpu_kernel(case):
    """The CPU backend's resize kernel (not the reference evaluation) against ONNX Runtime."""
    attrs, shape, scales = case
    inputs = {"x": data(shape), "roi": None, "scales": np.array(scales, np.float32)}
    model = single_op_model("Resize", inputs, attrs, 18, 1, {"roi", "scales"})
    feeds = {"x": inputs["x"]}
    expected = run_onnxruntime(model, feeds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        actual = run_ember(path, feeds, backend="cpu", extra_args=["--require-full"])
    for name, value in expected.items():
        assert_close(actual[name], value, 1e-5, what=f"output '{name}'")


def test_resize_without_scales_or_sizes_refused():
    assert_refused("Resize", {"x": data((1, 2)), "roi": None, "scales": np.array([1, 2, 3], np.float32)},
                   consts={"scales"})
