"""Batch, layer, group, instance, RMS, Lp and mean-variance normalization against ONNX Runtime."""
import numpy as np
import pytest
from harness import check_onnx_op, ember_error, rng, single_op_model


def batch_norm_inputs(shape, dtype=np.float32, seed=0):
    r = rng(seed)
    c = shape[1]
    return {
        "x": r.standard_normal(shape).astype(dtype),
        "scale": r.standard_normal(c).astype(dtype),
        "bias": r.standard_normal(c).astype(dtype),
        "mean": r.standard_normal(c).astype(dtype),
        "var": r.uniform(0.5, 2, c).astype(dtype),
    }


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 2)])
@pytest.mark.parametrize("opset", [13, 14, 15])
def test_batch_norm(shape, opset):
    inputs = batch_norm_inputs(shape)
    attrs = {"epsilon": 1e-3, "momentum": 0.8}
    if opset >= 14:
        attrs["training_mode"] = 0
    check_onnx_op("BatchNormalization", inputs, attrs, opset=opset,
                  initializers={"scale", "bias", "mean", "var"})


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_batch_norm_dtypes(dtype):
    check_onnx_op("BatchNormalization", batch_norm_inputs((2, 4, 3, 3), dtype), {}, opset=15,
                  rtol=3e-3 if dtype == np.float16 else 1e-6)


def test_batch_norm_resnet_stem_shape():
    check_onnx_op("BatchNormalization", batch_norm_inputs((3, 64, 112, 112)), {}, opset=15,
                  initializers={"scale", "bias", "mean", "var"})


def test_batch_norm_training_mode_is_refused():
    inputs = batch_norm_inputs((2, 3, 4))
    model = single_op_model("BatchNormalization", inputs, {"training_mode": 1}, opset=15, outputs=3)
    failure = ember_error(model, inputs)
    assert failure.code == 1 and "training_mode" in failure.stderr


def test_batch_norm_wrong_channel_count_is_refused():
    inputs = batch_norm_inputs((2, 3, 4))
    inputs["scale"] = np.ones(4, np.float32)
    model = single_op_model("BatchNormalization", inputs, {}, opset=15, initializers={"scale"})
    failure = ember_error(model, {k: v for k, v in inputs.items() if k != "scale"})
    assert failure.code == 1 and "scale" in failure.stderr


@pytest.mark.parametrize("shape,axis", [((3, 128, 768), -1), ((2, 3, 4), 1), ((2, 3, 4), -2), ((4, 5), 0),
                                        ((2, 3, 4, 5), 2)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layer_norm(shape, axis, with_bias):
    r = rng(1)
    norm = shape[axis:] if axis >= 0 else shape[len(shape) + axis:]
    inputs = {"x": r.standard_normal(shape).astype(np.float32), "scale": r.standard_normal(norm).astype(np.float32),
              "bias": r.standard_normal(norm).astype(np.float32) if with_bias else None}
    check_onnx_op("LayerNormalization", inputs, {"axis": axis, "epsilon": 1e-5}, opset=17,
                  initializers={"scale", "bias"})


def test_layer_norm_statistics_outputs():
    r = rng(2)
    inputs = {"x": r.standard_normal((2, 3, 8)).astype(np.float32), "scale": r.standard_normal(8).astype(np.float32),
              "bias": r.standard_normal(8).astype(np.float32)}
    check_onnx_op("LayerNormalization", inputs, {"epsilon": 1e-3}, opset=17, outputs=3)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_layer_norm_dtypes(dtype):
    r = rng(3)
    inputs = {"x": r.standard_normal((3, 16)).astype(dtype), "scale": r.standard_normal(16).astype(dtype),
              "bias": r.standard_normal(16).astype(dtype)}
    check_onnx_op("LayerNormalization", inputs, {}, opset=17, rtol=3e-3 if dtype == np.float16 else 1e-6)


def test_layer_norm_broadcast_scale():
    r = rng(4)
    inputs = {"x": r.standard_normal((2, 3, 4)).astype(np.float32), "scale": r.standard_normal(4).astype(np.float32)}
    check_onnx_op("LayerNormalization", inputs, {"axis": 1}, opset=17)


@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 4), 3), ((2, 4, 5), 2), ((1, 8, 2, 3), 8), ((2, 6, 3), 1)])
def test_group_norm(opset, shape, groups):
    r = rng(5)
    n = groups if opset < 21 else shape[1]
    inputs = {"x": r.standard_normal(shape).astype(np.float32), "scale": r.standard_normal(n).astype(np.float32),
              "bias": r.standard_normal(n).astype(np.float32)}
    check_onnx_op("GroupNormalization", inputs, {"num_groups": groups, "epsilon": 1e-4}, opset=opset,
                  initializers={"scale", "bias"})


def test_group_norm_groups_must_divide_channels():
    r = rng(6)
    inputs = {"x": r.standard_normal((2, 6, 4)).astype(np.float32), "scale": np.ones(6, np.float32),
              "bias": np.zeros(6, np.float32)}
    model = single_op_model("GroupNormalization", inputs, {"num_groups": 4}, opset=21, initializers={"scale", "bias"})
    failure = ember_error(model, {"x": inputs["x"]})
    assert failure.code == 1 and "num_groups" in failure.stderr


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_instance_norm(shape, dtype):
    if dtype == np.float64:
        pytest.skip("ONNX Runtime has no f64 InstanceNormalization kernel")
    r = rng(7)
    c = shape[1]
    inputs = {"x": r.standard_normal(shape).astype(dtype), "scale": r.standard_normal(c).astype(dtype),
              "bias": r.standard_normal(c).astype(dtype)}
    check_onnx_op("InstanceNormalization", inputs, {"epsilon": 1e-3}, opset=13,
                  rtol=3e-3 if dtype == np.float16 else 1e-5)


@pytest.mark.parametrize("shape,axis", [((2, 3, 8), -1), ((2, 3, 8), 1), ((4, 6), 0)])
def test_rms_norm(shape, axis):
    r = rng(8)
    norm = shape[axis:] if axis >= 0 else shape[len(shape) + axis:]
    inputs = {"x": r.standard_normal(shape).astype(np.float32), "scale": r.standard_normal(norm).astype(np.float32)}
    check_onnx_op("RMSNormalization", inputs, {"axis": axis, "epsilon": 1e-5}, opset=23)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_lp_norm(p, axis):
    x = rng(9).standard_normal((3, 4, 5)).astype(np.float32)
    check_onnx_op("LpNormalization", {"x": x}, {"axis": axis, "p": p}, opset=13)


def test_lp_norm_zero_vector():
    x = np.array([[0, 0, 0], [3, 4, 0]], np.float32)
    check_onnx_op("LpNormalization", {"x": x}, {"axis": 1, "p": 2}, opset=13)


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [-1], [2, 3]])
def test_mean_variance_norm(axes):
    x = rng(10).standard_normal((2, 3, 4, 5)).astype(np.float32)
    check_onnx_op("MeanVarianceNormalization", {"x": x}, {"axes": axes} if axes else {}, opset=13)


def test_group_norm_opset21_runtime_scale():
    r = rng(11)
    inputs = {"x": r.standard_normal((2, 4, 3)).astype(np.float32), "scale": r.standard_normal(4).astype(np.float32),
              "bias": r.standard_normal(4).astype(np.float32)}
    check_onnx_op("GroupNormalization", inputs, {"num_groups": 2}, opset=21)


def test_group_norm_opset18_runtime_scale_is_refused():
    r = rng(12)
    inputs = {"x": r.standard_normal((2, 4, 3)).astype(np.float32), "scale": np.ones(2, np.float32),
              "bias": np.zeros(2, np.float32)}
    model = single_op_model("GroupNormalization", inputs, {"num_groups": 2}, opset=18)
    failure = ember_error(model, inputs)
    assert failure.code == 1 and "non-constant scale" in failure.stderr


def test_layer_norm_wrong_scale_is_refused():
    inputs = {"x": np.zeros((2, 3, 4), np.float32), "scale": np.ones(3, np.float32)}
    model = single_op_model("LayerNormalization", inputs, {}, opset=17)
    failure = ember_error(model, inputs)
    assert failure.code == 1 and "scale" in failure.stderr


def test_lp_norm_bad_p_is_refused():
    x = np.zeros((2, 3), np.float32)
    failure = ember_error(single_op_model("LpNormalization", {"x": x}, {"p": 3}, opset=13), {"x": x})
    assert failure.code == 1 and "p" in failure.stderr
