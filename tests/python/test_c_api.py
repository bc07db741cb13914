"""include/ember.h from C: load an engine, describe it, run it from one thread and from eight."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import onnx
import pytest
from harness import EMBER, REPO, ember
from onnx import TensorProto, helper

LIBRARY_DIR = EMBER.parent


def model(path):
    """y = tanh(x @ w + b) * x with a symbolic batch."""
    r = np.random.default_rng(0)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["s"]),
             helper.make_node("Tanh", ["s"], ["t"]), helper.make_node("Mul", ["t", "x"], ["y"])]
    inits = [onnx.numpy_helper.from_array(r.standard_normal((16, 16)).astype(np.float32), "w"),
             onnx.numpy_helper.from_array(r.standard_normal(16).astype(np.float32), "b")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")
def test_engine_runs_from_c_on_eight_threads(tmp_path):
    library = LIBRARY_DIR / "libEmberC.so"
    assert library.exists(), f"{library} is missing: `swift build` builds it"
    binary = tmp_path / "engine_check"
    subprocess.run(["cc", "-O1", "-o", binary, REPO / "tests/c/engine_check.c", f"-I{REPO / 'include'}",
                    f"-L{LIBRARY_DIR}", "-lEmberC", f"-Wl,-rpath,{LIBRARY_DIR}", "-lpthread"], check=True)
    model(tmp_path / "m.onnx")
    assert ember("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.engine").returncode == 0
    batch = 3
    proc = subprocess.run([binary, tmp_path / "m.engine", str(batch), tmp_path / "out.raw"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "input x [batch, 16]" in proc.stdout and "8 threads" in proc.stdout
    from_c = np.fromfile(tmp_path / "out.raw", dtype=np.float32).reshape(batch, 16)
    x = (((np.arange(batch * 16) * 7) % 29).astype(np.float32) / np.float32(7) - np.float32(2)).reshape(batch, 16)
    np.save(tmp_path / "x.npy", x)
    assert ember("run", tmp_path / "m.engine", "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "o").returncode == 0
    assert np.array_equal(from_c, np.load(tmp_path / "o" / "y.npy"))
