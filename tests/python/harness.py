"""Shared helpers for the Python test suite: run `ember` on ONNX models and compare with ONNX Runtime.

Every comparison is whole-tensor: shapes and dtypes must match exactly; floating point outputs
must agree within a maximum error relative to the largest reference magnitude; integer and bool
outputs must be equal.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

REPO = Path(__file__).resolve().parents[2]
EMBER = Path(os.environ.get("EMBER_BIN", REPO / ".build" / "debug" / "ember"))


class EmberFailed(Exception):
    """`ember` exited non-zero; carries its exit code and stderr."""

    def __init__(self, code: int, stderr: str):
        super().__init__(f"ember exited {code}: {stderr.strip()}")
        self.code = code
        self.stderr = stderr


def ember(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs the ember binary with `args`; returns the completed process (never raises on exit code)."""
    return subprocess.run([str(EMBER), *map(str, args)], capture_output=True, text=True, timeout=timeout)


class Measured(subprocess.CompletedProcess):
    """A finished `ember` run (stdout and stderr as bytes, `text` the decoded stderr) with its own
    peak resident memory in MB (`peak_mb`)."""

    def __init__(self, args, returncode, stdout: bytes, stderr: bytes, peak_mb: float):
        super().__init__(args, returncode, stdout, stderr)
        self.peak_mb = peak_mb
        self.text = stderr.decode(errors="replace")

    def __repr__(self) -> str:
        return f"exit {self.returncode}, {self.peak_mb:.0f} MB, stderr {self.text[-2000:]!r}"


# Starts the command from a fresh, small interpreter and reports the child's peak RSS. Measuring
# from the test process itself would be wrong: a child started by vfork inherits the parent's
# high-water mark at exec, so a test process holding PyTorch would count its own gigabyte.
_MEASURE = """
import os, sys
import signal
fd, seconds, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid = os.posix_spawn(argv[0], argv, os.environ)
signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
signal.alarm(seconds)
_, status, usage = os.wait4(pid, 0)
os.write(fd, str(usage.ru_maxrss).encode())
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)  # a signal reads as the shell shows it: 128 + N
"""


def ember_measured(*args, timeout: float = 120, prefix: tuple = ()) -> Measured:
    """Runs `ember args` (after `prefix`, such as a prlimit command) and measures its peak memory."""
    cmd = [*map(str, prefix), str(EMBER), *map(str, args)]
    cmd[0] = shutil.which(cmd[0]) or cmd[0]
    read, write = os.pipe()
    try:
        proc = subprocess.run([sys.executable, "-c", _MEASURE, str(write), str(int(timeout)), *cmd],
                              capture_output=True, timeout=timeout + 30, pass_fds=(write,), stdin=subprocess.DEVNULL)
    finally:
        os.close(write)
    with os.fdopen(read) as pipe:
        maxrss_kb = int(pipe.read() or 0)
    return Measured(cmd, proc.returncode, proc.stdout, proc.stderr, maxrss_kb / 1024)


# The backend the op and model tests run: the CPU backend, which falls back to the reference kernels
# for what it has no faster kernel for. EMBER_TEST_BACKEND=reference checks the reference backend.
DEFAULT_BACKEND = os.environ.get("EMBER_TEST_BACKEND", "cpu")


def run_ember(model_path: Path | str, inputs: dict[str, np.ndarray], backend: str = DEFAULT_BACKEND,
              workdir: Path | None = None, timeout: float = 600,
              extra_args: list[str] | None = None) -> dict[str, np.ndarray]:
    """Runs `ember run` on a model file; returns outputs by name. Raises EmberFailed on a non-zero exit."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        args = ["run", str(model_path), "--backend", backend, "--output-dir", str(tmp / "out"), *(extra_args or [])]
        for i, (name, value) in enumerate(inputs.items()):
            path = tmp / f"input{i}.npy"
            np.save(path, value)
            args += ["--input", f"{name}={path}"]
        proc = ember(*args, timeout=timeout)
        if proc.returncode != 0:
            raise EmberFailed(proc.returncode, proc.stderr)
        model_outputs = [o.name for o in onnx.load(str(model_path), load_external_data=False).graph.output]
        return {name: np.load(tmp / "out" / output_file_name(name)) for name in model_outputs}


def output_file_name(name: str) -> str:
    """The file `ember run` writes for an output name."""
    safe = name.replace("/", "_").replace("\\", "_")
    return ("_" + safe if safe in (".", "..") else safe) + ".npy"


def run_onnxruntime(model: onnx.ModelProto | str | Path, inputs: dict[str, np.ndarray],
                    optimize: bool = False, threads: int = 1) -> dict[str, np.ndarray]:
    """Runs ONNX Runtime's CPU provider; with `optimize=False` no graph rewrites blur the op semantics."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def max_relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest |actual - expected| over the largest finite |expected|; NaN and inf must match exactly."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return float("inf")
    if not np.array_equal(np.isnan(a), np.isnan(e)):
        return float("inf")
    inf = np.isinf(e) | np.isinf(a)
    if not np.array_equal(a[inf], e[inf]):
        return float("inf")
    finite = ~(np.isnan(e) | inf)
    if not finite.any():
        return 0.0
    scale = max(np.abs(e[finite]).max(), 1e-30)
    return float(np.abs(a[finite] - e[finite]).max() / scale)


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, what: str = "output") -> None:
    """Whole-tensor comparison: same shape and dtype; floats within `rtol` of the largest magnitude; others equal."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    if np.issubdtype(expected.dtype, np.floating):
        err = max_relative_error(actual, expected)
        assert err <= rtol, f"{what}: max relative error {err:.3g} > {rtol:g}"
    else:
        assert np.array_equal(actual, expected), f"{what}: values differ\n{actual}\nexpected\n{expected}"


def onnx_dtype(array: np.ndarray) -> int:
    return helper.np_dtype_to_tensor_dtype(array.dtype)


def single_op_model(op_type: str, inputs: dict[str, np.ndarray | None], attrs: dict | None = None,
                    opset: int = 17, outputs: int | list[str] = 1,
                    initializers: set[str] | frozenset[str] = frozenset(), domain: str = "") -> onnx.ModelProto:
    """A model with one node. Inputs map names to arrays (None marks an omitted optional input);
    names listed in `initializers` become constants of the model instead of graph inputs."""
    output_names = [f"out{i}" for i in range(outputs)] if isinstance(outputs, int) else list(outputs)
    node_inputs = [name if value is not None else "" for name, value in inputs.items()]
    node = helper.make_node(op_type, node_inputs, output_names, domain=domain, **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(n, onnx_dtype(v), v.shape)
                    for n, v in inputs.items() if v is not None and n not in initializers]
    inits = [onnx.numpy_helper.from_array(v, n) for n, v in inputs.items() if v is not None and n in initializers]
    graph_outputs = [helper.make_empty_tensor_value_info(n) for n in output_names]
    graph = helper.make_graph([node], f"{op_type}_test", graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    return model


def check_model(model: onnx.ModelProto, feeds: dict[str, np.ndarray], rtol: float = 1e-5,
                ort_model: onnx.ModelProto | None = None) -> dict[str, np.ndarray]:
    """Runs `model` on ONNX Runtime and on ember's reference backend and compares every output."""
    expected = run_onnxruntime(ort_model or model, feeds)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        actual = run_ember(path, feeds)
    for name, value in expected.items():
        assert_close(actual[name], value, rtol, what=f"output '{name}'")
    return actual


def check_onnx_op(op_type: str, inputs: dict[str, np.ndarray | None], attrs: dict | None = None,
                  opset: int = 17, outputs: int | list[str] = 1, rtol: float = 1e-5,
                  initializers: set[str] | frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """Builds a one-node ONNX model, runs it on ONNX Runtime and ember, and compares every output."""
    model = single_op_model(op_type, inputs, attrs, opset, outputs, initializers)
    feeds = {n: v for n, v in inputs.items() if v is not None and n not in initializers}
    return check_model(model, feeds, rtol)


def ember_error(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> EmberFailed:
    """Runs ember on a model expected to fail; returns the failure (exit code and message)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(model, str(path))
        try:
            run_ember(path, feeds)
        except EmberFailed as failure:
            return failure
    raise AssertionError("ember succeeded where it should have failed")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
