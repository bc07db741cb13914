"""The `ember` command line: exit codes, messages, inputs and outputs."""
from __future__ import annotations

import json
import os
import random
import subprocess

import numpy as np
import onnx
import pytest
from harness import EMBER, ember, rng, run_ember, run_onnxruntime, single_op_model, assert_close
from onnx import TensorProto, helper


def small_model(path, opset=17):
    """y = relu(x * w + b) with a symbolic batch dim, and a second output z = x + 1."""
    nodes = [helper.make_node("Mul", ["x", "w"], ["xw"], name="mul"),
             helper.make_node("Add", ["xw", "b"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y/relu"], name="relu"),
             helper.make_node("Add", ["x", "one"], ["z"], name="plus_one")]
    inits = [onnx.numpy_helper.from_array(np.array([1, 2, 3, 4], np.float32), "w"),
             onnx.numpy_helper.from_array(np.array([0.5, -0.5, 1, -1], np.float32), "b"),
             onnx.numpy_helper.from_array(np.array(1, np.float32), "one")]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y/relu", TensorProto.FLOAT, ["batch", 4]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    onnx.save(model, str(path))
    return model


@pytest.fixture
def model_path(tmp_path):
    path = tmp_path / "small.onnx"
    small_model(path)
    return path


def test_runs_any_batch_from_one_file(model_path, tmp_path):
    model = onnx.load(str(model_path))
    for batch in (1, 3):
        x = rng(batch).standard_normal((batch, 4)).astype(np.float32)
        actual = run_ember(model_path, {"x": x})
        expected = run_onnxruntime(model, {"x": x})
        for name in ("y/relu", "z"):
            assert_close(actual[name], expected[name], 1e-6)


def test_input_name_may_be_left_out_for_a_single_input(model_path, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    proc = ember("run", model_path, "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.load(tmp_path / "out" / "z.npy"), np.full((2, 4), 2, np.float32))
    assert (tmp_path / "out" / "y_relu.npy").exists()


@pytest.mark.parametrize("make_input, message", [
    (lambda t: np.ones((2, 5), np.float32), "dim 1"),
    (lambda t: np.ones((4,), np.float32), "rank"),
    (lambda t: np.ones((2, 4), np.float64), "dtype f64"),
])
def test_inputs_that_do_not_fit_are_refused(model_path, tmp_path, make_input, message):
    np.save(tmp_path / "x.npy", make_input(tmp_path))
    proc = ember("run", model_path, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "out")
    assert proc.returncode == 1
    assert "input 'x'" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_input_name_and_missing_input_are_refused(model_path, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    proc = ember("run", model_path, "--input", f"nope={tmp_path / 'x.npy'}")
    assert proc.returncode == 1 and "no input named 'nope'" in proc.stderr
    proc = ember("run", model_path)
    assert proc.returncode == 1 and "input 'x'" in proc.stderr


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "empty"),
    (b"this is not an onnx model at all", "not a valid ONNX model"),
])
def test_bad_model_files_are_refused(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    for command in (["inspect", path], ["run", path]):
        proc = ember(*command)
        assert proc.returncode == 1, proc
        assert proc.stderr.startswith("error: ") and message in proc.stderr


def test_bad_npy_file_is_refused(model_path, tmp_path):
    (tmp_path / "x.npy").write_bytes(b"\x93NUMPY garbage")
    proc = ember("run", model_path, "--input", tmp_path / "x.npy")
    assert proc.returncode == 1 and "x.npy" in proc.stderr


def test_bad_flags_are_refused(model_path):
    assert ember("run", model_path, "--backend", "warp-drive").returncode != 0
    assert ember("run", model_path, "--no-such-flag").returncode != 0
    assert ember("frobnicate").returncode != 0


def test_unsupported_ops_are_listed_with_their_nodes(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("MadeUpOp", ["a"], ["b"], name="first"),
             helper.make_node("MadeUpOp", ["b"], ["c"], name="second"),
             helper.make_node("Custom", ["c"], ["y"], name="third", domain="com.example")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    np.save(tmp_path / "x.npy", np.ones(2, np.float32))
    proc = ember("run", path, "--input", tmp_path / "x.npy")
    assert proc.returncode == 1
    assert "MadeUpOp (first, second)" in proc.stderr and "com.example.Custom (third)" in proc.stderr
    report = json.loads(ember("inspect", path, "--json").stdout)
    assert {u["op"]: u["nodes"] for u in report["unsupported"]} == {
        "MadeUpOp": ["first", "second"], "com.example.Custom": ["third"]}


def test_inspect_reports_symbolic_shapes(model_path):
    proc = ember("inspect", model_path)
    assert proc.returncode == 0
    assert "x: f32[batch,4]" in proc.stdout and "y/relu: f32[batch,4]" in proc.stdout
    report = json.loads(ember("inspect", model_path, "--json").stdout)
    assert report["inputs"] == [{"name": "x", "dtype": "f32", "shape": ["batch", 4]}]
    assert report["ops_imported"] == {"Add": 2, "Mul": 1, "Relu": 1}
    assert report["unsupported"] == []


def test_failed_run_leaves_existing_outputs_alone(model_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "z.npy").write_bytes(b"precious")
    np.save(tmp_path / "x.npy", np.ones((2, 5), np.float32))
    assert ember("run", model_path, "--input", tmp_path / "x.npy", "--output-dir", out).returncode == 1
    assert (out / "z.npy").read_bytes() == b"precious"


def test_damaged_model_files_never_crash(model_path, tmp_path):
    """Truncations, flipped bytes and inserted bytes: exit 0 (damage was harmless) or 1, never a crash."""
    original = model_path.read_bytes()
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    r = random.Random(7)
    for trial in range(120):
        data = bytearray(original)
        kind = trial % 3
        if kind == 0:
            data = data[: r.randrange(len(data))]
        elif kind == 1:
            for _ in range(r.randint(1, 6)):
                data[r.randrange(len(data))] ^= r.randint(1, 255)
        else:
            at = r.randrange(len(data))
            data[at:at] = bytes(r.randrange(256) for _ in range(r.randint(1, 16)))
        path = tmp_path / "damaged.onnx"
        path.write_bytes(bytes(data))
        for command in (["inspect", path], ["run", path, "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "o"]):
            proc = ember(*command)
            assert proc.returncode in (0, 1), f"trial {trial}: {command[0]} exited {proc.returncode}: {proc.stderr[-400:]}"
            if proc.returncode == 1:
                assert proc.stderr.startswith("error: ")


def bench_rows(stdout):
    """The data rows of `ember bench`'s table, as lists of cells."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in stdout.splitlines() if line.startswith("| ")]
    return [r for r in rows if r[0].isdigit()]


@pytest.mark.parametrize("peer", ["onnxruntime", "reference"])
def test_bench_times_ember_and_a_peer_on_the_same_inputs(model_path, peer):
    proc = ember("bench", model_path, "--against", peer, "--batch", "1", "--batch", "5",
                 "--iterations", "3", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr
    rows = bench_rows(proc.stdout)
    assert [r[0] for r in rows] == ["1", "5"]
    for row in rows:
        ember_ms, peer_ms, max_rel = float(row[1]), float(row[2]), float(row[5])
        assert ember_ms > 0 and peer_ms > 0
        assert max_rel <= 1e-6, proc.stdout  # the same model on the same inputs
    assert "peak memory: ember" in proc.stdout


def test_bench_refuses_what_it_cannot_do(model_path, tmp_path):
    engine = tmp_path / "small.engine"
    assert ember("compile", model_path, "-o", engine).returncode == 0
    proc = ember("bench", engine, "--against", "onnxruntime")
    assert proc.returncode == 1 and "--peer-model" in proc.stderr
    assert ember("bench", engine, "--against", "onnxruntime", "--peer-model", model_path,
                 "--iterations", "2").returncode == 0
    assert ember("bench", model_path, "--iterations", "0").returncode != 0
    assert ember("bench", model_path, "--against", "warp-drive").returncode != 0


@pytest.mark.parametrize("python", ["false", "no-such-python"])
def test_bench_reports_a_peer_that_stops(model_path, python):
    """A peer process that exits before it answers is an error naming the peer, not a hang or a crash."""
    proc = ember("bench", model_path, "--against", "onnxruntime", "--python", python, "--iterations", "2")
    assert proc.returncode == 1, proc.stderr
    assert "onnxruntime stopped" in proc.stderr or "cannot start" in proc.stderr, proc.stderr


def test_cpu_engine_stores_packed_weights_and_needs_onednn_to_run(tmp_path):
    """A CPU engine holds its convolution's weights as oneDNN packed them: it runs like the model
    where oneDNN is, and where it is missing loading says so (the model file itself still runs)."""
    r = rng(11)
    x = r.standard_normal((2, 8, 12, 12)).astype(np.float32)
    model = single_op_model("Conv", {"x": x, "w": r.standard_normal((16, 8, 3, 3)).astype(np.float32)},
                            attrs={"pads": [1, 1, 1, 1]}, initializers={"w"})
    path, engine = tmp_path / "conv.onnx", tmp_path / "conv.engine"
    onnx.save(model, str(path))
    proc = ember("compile", path, "-o", engine, "--backend", "cpu")
    assert proc.returncode == 0, proc.stderr
    if b'"packed"' not in engine.read_bytes()[:1 << 16]:
        pytest.skip("oneDNN is not available here (see `ember doctor`), so the engine holds plain weights")
    expected = run_onnxruntime(model, {"x": x})
    np.save(tmp_path / "x.npy", x)
    proc = ember("run", engine, "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "first")
    assert proc.returncode == 0, proc.stderr
    assert_close(np.load(tmp_path / "first" / "out0.npy"), expected["out0"], 1e-4)
    missing = dict(os.environ, EMBER_ONEDNN_LIBRARY=str(tmp_path / "no-such-libdnnl.so"))
    run = subprocess.run([str(EMBER), "run", engine, "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "out"],
                         capture_output=True, text=True, env=missing)
    assert run.returncode == 1 and "packed for oneDNN" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()
    fallback = subprocess.run([str(EMBER), "run", path, "--input", tmp_path / "x.npy", "--output-dir", tmp_path / "out"],
                              capture_output=True, text=True, env=missing)
    assert fallback.returncode == 0, fallback.stderr
    assert_close(np.load(tmp_path / "out" / "out0.npy"), expected["out0"], 1e-4)


def test_print_ir_after_shows_large_constants_by_type_alone(tmp_path):
    """`--print-ir-after` is for reading a large model's graph between passes: weights appear by
    type alone, small constants stay inline."""
    r = rng(12)
    model = single_op_model("Conv", {"x": r.standard_normal((1, 8, 6, 6)).astype(np.float32),
                                     "w": r.standard_normal((16, 8, 3, 3)).astype(np.float32),
                                     "b": np.arange(16, dtype=np.float32)}, initializers={"w", "b"})
    path = tmp_path / "conv.onnx"
    onnx.save(model, str(path))
    proc = ember("inspect", path, "--print-ir-after", "all")
    assert proc.returncode == 0, proc.stderr
    assert "// -----// IR after" in proc.stdout
    assert "f32[16,8,3,3] @elided" in proc.stdout
    assert "f32[16] [0.0, 1.0, 2.0" in proc.stdout
    assert " 0x" not in proc.stdout


def test_bench_on_the_gpu_compares_outputs_of_runs_on_the_inputs(tmp_path):
    """`ember bench` runs a CUDA engine many times per upload of its inputs; each run must still see
    them, though later values reuse their memory once read. A chain of products gives the input's
    memory to a later value."""
    doctor = ember("doctor").stdout
    cuda = next((line for line in doctor.splitlines() if line.startswith("cuda:")), "cuda: not reported")
    if not cuda.startswith("cuda: available"):
        pytest.skip(f"no CUDA device here ({cuda})")
    r = rng(13)
    nodes, inits = [], []
    for i in range(4):
        w = r.standard_normal((64, 64)).astype(np.float32) / 8
        inits.append(onnx.numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"h{i}" if i else "x", f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Relu", [f"m{i}"], ["y" if i == 3 else f"h{i + 1}"]))
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])], inits)
    path = tmp_path / "chain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    proc = ember("bench", path, "--backend", "cuda", "--against", "reference", "--batch", "8",
                 "--iterations", "5", "--warmup", "3")
    assert proc.returncode == 0, proc.stderr
    rows = bench_rows(proc.stdout)
    assert len(rows) == 1 and float(rows[0][5]) <= 1e-5, proc.stdout
