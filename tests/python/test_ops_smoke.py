"""A first check of the harness itself: elementwise ops that every model uses."""
import numpy as np
import pytest
from harness import check_onnx_op, ember_error, rng, single_op_model


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 1, 4), (3, 1)), ((), (5,))])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_binary_f32_broadcasting(op, shapes):
    r = rng(1)
    a = r.standard_normal(shapes[0]).astype(np.float32)
    b = r.standard_normal(shapes[1]).astype(np.float32)
    check_onnx_op(op, {"a": a, "b": b})


def test_wrong_input_shape_is_refused():
    x = np.zeros((2, 3), np.float32)
    model = single_op_model("Relu", {"x": x})
    failure = ember_error(model, {"x": np.zeros((2, 4), np.float32)})
    assert failure.code == 1 and "input 'x'" in failure.stderr
