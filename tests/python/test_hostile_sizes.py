"""Hostile sizes and structure: every case exits 1 with a message naming the problem (never a
signal), and stays under a stated peak memory.

Files are generated in tmp_path: zero-element .npy arrays with absurd dims, dims near 2^62 in
models and flags, compute bombs (ConstantOfShape, Expand, Tile, Range, Resize), non-SSA graphs,
colliding output names and unknown flag names.
"""
from __future__ import annotations

import struct
import subprocess
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness import EMBER, Measured, ember_measured

F = TensorProto.FLOAT
# Peak resident memory any refused case may reach: the process itself, no tensor.
MAX_RSS_MB = 512


def ember_limited(*args, timeout=120) -> Measured:
    """Runs ember under an address-space limit well below any bomb's size."""
    return ember_measured(*args, timeout=timeout, prefix=("prlimit", f"--as={8 << 30}"))


def assert_refused(proc: Measured, *words):
    assert proc.returncode == 1, proc
    assert any(line.startswith("error: ") for line in proc.text.splitlines()), proc
    for word in words:
        assert word in proc.text, proc
    assert proc.peak_mb < MAX_RSS_MB, proc


def save(path, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


def vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def npy_with_shape(path, shape_text):
    """An .npy file whose header claims `shape_text` and that holds no elements."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape_text
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    return path


@pytest.mark.parametrize("op", ["Softmax", "Transpose", "Concat"])
def test_zero_element_npy_with_absurd_dims_is_refused(tmp_path, op):
    node = helper.make_node(op, ["x"] * (2 if op == "Concat" else 1), ["y"], **({"axis": 0} if op == "Concat" else {}))
    model = save(tmp_path / "m.onnx", [node], [vi("x", ["a", "b", "c"])], [vi("y", None)])
    x = npy_with_shape(tmp_path / "x.npy", "(0, 9223372036854775807, 9223372036854775807)")
    assert_refused(ember_limited("run", model, "--input", x, "--output-dir", tmp_path / "out"), "x.npy", "dim")


def test_overflowing_dims_in_a_model_and_in_flags_are_refused(tmp_path):
    big = 1 << 62
    model = save(tmp_path / "big.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", [big, 4])], [vi("y", None)])
    assert_refused(ember_limited("inspect", model), "graph input 'x'", str(big))
    relu = save(tmp_path / "relu.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["n", 4])], [vi("y", None)])
    assert_refused(ember_limited("inspect", relu, "--input", f"x={big}x4"), str(big))
    assert_refused(ember_limited("compile", relu, "--input", f"x={big}x4", "-o", tmp_path / "e.ember"), str(big))
    assert_refused(ember_limited("bench", relu, "--against", "none", "--batch", big), str(big))
    # A billion rows fit in an Int but not in memory: refused before anything is allocated.
    assert_refused(ember_limited("bench", relu, "--against", "none", "--batch", 1_000_000_000), "memory limit")
    x = tmp_path / "x.npy"
    np.save(x, np.ones((256, 4), np.float32))  # 4 KiB in, 4 KiB out: over a 1 KiB limit
    assert_refused(ember_limited("run", relu, "--input", x, "--max-memory", "1K", "--output-dir", tmp_path / "o"), "memory limit")
    assert_refused(ember_limited("run", relu, "--input", x, "--max-memory", "lots"), "--max-memory")


def bomb(tmp_path, kind):
    i64 = lambda name, values: numpy_helper.from_array(np.array(values, np.int64), name)
    f32 = lambda name, value: numpy_helper.from_array(np.array(value, np.float32), name)
    if kind == "ConstantOfShape":
        return save(tmp_path / "b.onnx", [helper.make_node("ConstantOfShape", ["s"], ["y"])],
                    [vi("x", [1])], [vi("y", None)], [i64("s", [1 << 20, 1 << 20])]), [1]
    if kind == "Expand":
        return save(tmp_path / "b.onnx", [helper.make_node("Expand", ["x", "s"], ["y"])],
                    [vi("x", [1])], [vi("y", None)], [i64("s", [1 << 20, 1 << 20])]), [1]
    if kind == "Tile":
        return save(tmp_path / "b.onnx", [helper.make_node("Tile", ["x", "s"], ["y"])],
                    [vi("x", [1])], [vi("y", None)], [i64("s", [1 << 38])]), [1]
    if kind == "Range":
        return save(tmp_path / "b.onnx", [helper.make_node("Range", ["a", "b", "c"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])],
                    [vi("x", [1])], [vi("y", None)], [f32("a", 0), f32("b", 1e12), f32("c", 1)]), [1]
    return save(tmp_path / "b.onnx", [helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest")],
                [vi("x", [1, 1, 2, 2])], [vi("y", None)], [f32("sc", [1, 1, 1e5, 1e5])]), [1, 1, 2, 2]


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("kind", ["ConstantOfShape", "Expand", "Tile", "Range", "Resize"])
@pytest.mark.parametrize("level", ["-O0", "-O2"])
def test_compute_bombs_are_refused_before_allocating(tmp_path, kind, backend, level):
    model, shape = bomb(tmp_path, kind)
    x = tmp_path / "x.npy"
    np.save(x, np.ones(shape, np.float32))
    proc = ember_limited("run", model, level, "--backend", backend, "--input", x, "--output-dir", tmp_path / "out")
    # The message names the value (CPU planner) or the node (reference interpreter) and its size.
    assert_refused(proc, "memory limit", "needs")
    assert "'y'" in proc.text or f"{kind}_0" in proc.text or kind == "Range", proc


def test_values_defined_twice_are_refused_naming_both_definitions(tmp_path):
    twice = save(tmp_path / "twice.onnx", [helper.make_node("Relu", ["x"], ["y"], name="first"),
                                           helper.make_node("Neg", ["x"], ["y"], name="second")],
                 [vi("x", [2])], [vi("y", None)])
    assert_refused(ember_limited("inspect", twice), "'y' is defined twice", "'first'", "'second'")
    redefined = save(tmp_path / "redef.onnx", [helper.make_node("Relu", ["x"], ["x"], name="r")],
                     [vi("x", [2])], [vi("x", None)])
    assert_refused(ember_limited("inspect", redefined), "'x' is defined twice", "graph input 'x'", "'r'")


def test_run_refuses_colliding_outputs_and_bad_output_dir_before_running(tmp_path):
    model = save(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["a/b"]), helper.make_node("Neg", ["x"], ["a_b"])],
                 [vi("x", [2])], [vi("a/b", None), vi("a_b", None)])
    x = tmp_path / "x.npy"
    np.save(x, np.ones(2, np.float32))
    assert_refused(ember_limited("run", model, "--input", x, "--output-dir", tmp_path / "out"), "'a/b'", "'a_b'", "a_b.npy")
    assert not (tmp_path / "out" / "a_b.npy").exists()
    (tmp_path / "file").write_text("")
    relu = save(tmp_path / "r.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", None)])
    # The input is missing too: the directory is reported first, so it was checked before the run.
    assert_refused(ember_limited("run", relu, "--output-dir", tmp_path / "file"), "not a directory")


def test_unknown_fallback_op_and_dim_names_are_refused_with_the_known_names(tmp_path):
    relu = save(tmp_path / "r.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["n", 4])], [vi("y", None)])
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 4), np.float32))
    assert_refused(ember_limited("run", relu, "--fallback-op", "Relux", "--input", x), "'Relux'", "relu")
    assert_refused(ember_limited("bench", relu, "--against", "none", "--dim", "seq=3"), "'seq'", "they are: n")


@pytest.mark.parametrize("command, flags, words", [
    ("bench", ("--against", "none", "--dim", "seq=3"), ("'seq'", "they are: n")),
    ("run", ("--input", "nope={d}/x.npy"), ("'nope'", "its inputs are: x")),
    ("compile", ("--input", "nope=2x4", "-o", "{d}/out.engine"), ("'nope'", "its inputs are: x")),
    ("inspect", ("--input", "nope=2x4"), ("'nope'", "its inputs are: x")),
])
def test_flags_naming_unknown_dims_or_inputs_are_refused_before_any_compile_work(tmp_path, command, flags, words):
    relu = save(tmp_path / "r.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["n", 4])], [vi("y", None)])
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    proc = ember_limited(command, relu, *(f.format(d=tmp_path) for f in flags), "--pass-stats")
    assert_refused(proc, *words)
    # --pass-stats prints the optimizer's table once it has run, and bench says when it built the engine.
    assert b"total" not in proc.stdout and "built a" not in proc.text, proc
    assert not (tmp_path / "out.engine").exists()


def test_a_100k_node_chain_imports_and_optimizes_in_linear_time(tmp_path):
    n = 100_000
    nodes = [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"]) for i in range(n)]
    model = save(tmp_path / "chain.onnx", nodes, [vi("v0", [1, 4])], [vi(f"v{n}", None)])
    start = time.monotonic()
    # The timeout is generous for a debug build on a busy machine; quadratic import took over 120 s.
    proc = subprocess.run([str(EMBER), "inspect", model], capture_output=True, text=True, timeout=90)
    print(f"100k-node Relu chain: ember inspect took {time.monotonic() - start:.1f} s")
    assert proc.returncode == 0, proc.stderr
