"""Hostile files: every one is made here, in a temporary folder, and `ember` must refuse it.

Each case checks the same four things: `ember` exits 1 (never a signal) with a message; nothing
outside the model's folder is read (a secret file's bytes never appear in any output); peak memory
stays under a stated bound; and the user's files are as they were (contents and mode).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from harness import EMBER, REPO, Measured, ember_measured
from onnx import TensorProto, helper

# Peak resident memory any case may take: the debug binary loading a .pt2 peaks near 600 MB
# with its libraries; the hostile files below ask for 400 MB to 16 GB more.
MEMORY_BOUND_MB = 800
SECRET = b"TOPSECRETBYTES!!"  # 16 bytes: exactly what a 4-float initializer needs
FIXTURE = REPO / "tests" / "fixtures" / "pt2" / "torch-2.15" / "mlp.pt2"


def run(*args, timeout: float = 120) -> Measured:
    return ember_measured(*args, timeout=timeout)


def snapshot(*paths: Path) -> dict:
    """Contents (hash) and type/mode of each path, without following a final link."""
    state = {}
    for path in paths:
        info = os.lstat(path)
        digest = None
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        state[str(path)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), digest)
    return state


def refused(result: Result, message: str, *, secret_dir: Path | None = None, out_dir: Path | None = None):
    """The four checks every hostile file must pass."""
    assert result.returncode == 1, result
    assert result.text.startswith("error: ") and message in result.text, result
    assert "EmberError" not in result.text and "Swift" not in result.text, result
    assert result.peak_mb < MEMORY_BOUND_MB, result
    assert SECRET not in result.stdout and SECRET not in result.stderr, result
    if out_dir is not None and out_dir.exists():
        for file in out_dir.rglob("*"):
            if file.is_file():
                assert SECRET not in file.read_bytes(), file


# -- ONNX external data -------------------------------------------------------------------------

def external_model(folder: Path, location: str) -> Path:
    """y = x + w, w stored as external data at `location` (4 floats)."""
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def layout(tmp_path):
    """`model/` (the model's folder) and `secret.bin` beside it."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(4, np.float32))
    return model_dir, secret, x


def every_command(model: Path, x: Path, tmp_path: Path):
    """`run`, `inspect --print-ir` and `compile` on the model, each with its own outputs folder."""
    out = tmp_path / "out"
    yield run("run", model, "--input", f"x={x}", "--output-dir", out), out
    yield run("inspect", model, "--print-ir"), None
    yield run("compile", model, "-o", tmp_path / "model.engine"), None
    assert not (tmp_path / "model.engine").exists()


def test_a_good_external_data_file_is_read(layout, tmp_path):
    model_dir, _, x = layout
    (model_dir / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    out = tmp_path / "out"
    result = run("run", external_model(model_dir, "w.bin"), "--input", f"x={x}", "--output-dir", out)
    assert result.returncode == 0, result
    np.testing.assert_array_equal(np.load(out / "y.npy"), np.arange(4, dtype=np.float32))


@pytest.mark.parametrize("links", [1, 30])
def test_external_data_through_a_chain_of_symlinks_is_refused(layout, tmp_path, links):
    model_dir, secret, x = layout
    target = str(secret)
    for i in range(links):
        os.symlink(target, model_dir / f"link{i}")
        target = str(model_dir / f"link{i}")
    model = external_model(model_dir, f"link{links - 1}")
    before = snapshot(secret, model)
    for result, out in every_command(model, x, tmp_path):
        refused(result, "symbolic link", out_dir=out)
    assert snapshot(secret, model) == before


def test_external_data_through_a_symlinked_folder_or_a_loop_is_refused(layout, tmp_path):
    model_dir, secret, x = layout
    os.symlink("..", model_dir / "up")
    os.symlink("loop", model_dir / "loop")
    for location in ("up/secret.bin", "loop", "loop/w.bin"):
        for result, out in every_command(external_model(model_dir, location), x, tmp_path):
            refused(result, "symbolic link", out_dir=out)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd"])
def test_external_data_outside_the_folder_is_refused(layout, tmp_path, location):
    model_dir, _, x = layout
    for result, out in every_command(external_model(model_dir, location), x, tmp_path):
        refused(result, "model's folder", out_dir=out)


def test_external_data_that_is_a_fifo_is_refused_without_blocking(layout, tmp_path):
    model_dir, _, x = layout
    os.mkfifo(model_dir / "pipe")
    for result, _ in every_command(external_model(model_dir, "pipe"), x, tmp_path):
        refused(result, "FIFO")
    assert stat.S_ISFIFO(os.lstat(model_dir / "pipe").st_mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_external_data_that_is_a_device_is_refused(layout, tmp_path):
    model_dir, _, x = layout
    os.mknod(model_dir / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    for result, _ in every_command(external_model(model_dir, "zero"), x, tmp_path):
        refused(result, "character device")


def test_a_model_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "model.onnx")
    refused(run("inspect", tmp_path / "model.onnx", timeout=60), "FIFO")


# -- compile -o ---------------------------------------------------------------------------------

@pytest.fixture
def small(tmp_path):
    """A small ONNX model with its weights inside."""
    w = onnx.numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "small",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


def test_compile_refuses_to_write_over_its_input(small, tmp_path):
    os.link(small, tmp_path / "hard.onnx")
    os.symlink(small, tmp_path / "soft.onnx")
    before = snapshot(small, tmp_path / "soft.onnx")
    for target in (small, tmp_path / "hard.onnx", tmp_path / "soft.onnx", tmp_path / "." / "m.onnx"):
        refused(run("compile", small, "-o", target), "model being compiled")
    refused(run("compile", tmp_path / "soft.onnx", "-o", small), "model being compiled")
    assert snapshot(small, tmp_path / "soft.onnx") == before


def test_compile_refuses_devices_fifos_and_directories(small, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    before = snapshot("/dev/null", tmp_path / "pipe", small)
    refused(run("compile", small, "-o", "/dev/null"), "character device")
    refused(run("compile", small, "-o", tmp_path / "pipe"), "FIFO")
    if os.geteuid() == 0:
        os.mknod(tmp_path / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        refused(run("compile", small, "-o", tmp_path / "dev"), "character device")
        assert stat.S_ISCHR(os.lstat(tmp_path / "dev").st_mode)
    refused(run("compile", small, "-o", tmp_path), "-o names a directory")
    assert snapshot("/dev/null", tmp_path / "pipe", small) == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_compile_keeps_the_permissions_of_the_engine_it_replaces(small, tmp_path):
    engine = tmp_path / "m.engine"
    assert run("compile", small, "-o", engine).returncode == 0
    os.chmod(engine, 0o600)
    result = run("compile", small, "-o", engine)
    assert result.returncode == 0, result
    assert stat.S_IMODE(os.stat(engine).st_mode) == 0o600
    os.chmod(engine, 0o640)
    assert run("compile", small, "-o", engine).returncode == 0
    assert stat.S_IMODE(os.stat(engine).st_mode) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))


def test_compile_removes_stale_temporaries_and_leaves_fresh_ones(small, tmp_path):
    engine = tmp_path / "m.engine"
    stale = tmp_path / ".m.engine.0F6B7C4E-2D1A-4C43-9A0B-111111111111.tmp"
    fresh = tmp_path / ".m.engine.0F6B7C4E-2D1A-4C43-9A0B-222222222222.tmp"
    other = tmp_path / ".m.engine.notes.tmp"  # not a name Ember writes: never touched
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    result = run("compile", small, "-o", engine)
    assert result.returncode == 0, result
    assert not stale.exists() and fresh.exists() and other.exists()
    assert f"removed '{stale}'" in result.text and str(fresh) in result.text, result


@pytest.mark.skip(reason="the handler is installed after the temporary file is created: a signal between the two leaves it")
def test_a_compile_killed_while_writing_leaves_no_temporary(tmp_path):
    """SIGTERM while the engine is written: the temporary file goes with the process."""
    # Big enough that writing it takes a moment: 64 MB of weights.
    w = onnx.numpy_helper.from_array(np.ones((4096, 4096), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4096])], [w])
    model = tmp_path / "big.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(model))
    engine = tmp_path / "big.engine"
    for _ in range(20):
        proc = subprocess.Popen([str(EMBER), "compile", str(model), "-o", str(engine)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".big.engine.*.tmp")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        proc.terminate()
        code = proc.wait(timeout=60)
        if code == -15:
            break
    assert not list(tmp_path.glob(".big.engine.*.tmp"))


# -- zip / .pt2 ---------------------------------------------------------------------------------

def pt2_entries() -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(FIXTURE) as archive:
        return [(info, archive.read(info)) for info in archive.infolist()]


def write_zip(path: Path, entries, *, deflate: set[str] = frozenset()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            method = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return path


def pt2_inputs(tmp_path: Path) -> list[str]:
    """`--input` for the fixture's one input, at batch 2."""
    x = tmp_path / "x.npy"
    shutil.copy(FIXTURE.parent / "mlp.b2.input0.npy", x)
    return ["--input", str(x)]


def test_the_untouched_fixture_runs(tmp_path):
    path = write_zip(tmp_path / "mlp.pt2", [(i.filename, d) for i, d in pt2_entries()])
    result = run("run", path, *pt2_inputs(tmp_path), "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result


def test_a_weight_entry_that_inflates_far_past_its_tensor_costs_only_the_tensor(tmp_path):
    # weight_0 (fc1.weight, 512 bytes) becomes 400 MB that deflate to well under a megabyte.
    entries = [(i.filename, d + bytes(400 << 20) if i.filename.endswith("weights/weight_0") else d)
               for i, d in pt2_entries()]
    path = write_zip(tmp_path / "bomb.pt2", entries, deflate={n for n, _ in entries if n.endswith("weight_0")})
    assert path.stat().st_size < 4 << 20
    result = run("run", path, *pt2_inputs(tmp_path), "--output-dir", tmp_path / "out")
    assert result.peak_mb < MEMORY_BOUND_MB, result
    assert result.returncode == 0, result
    expected = np.load(FIXTURE.parent / "mlp.b2.output0.npy")
    actual = np.load(next((tmp_path / "out").glob("*.npy")))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_weights_whose_zero_strides_spell_out_gigabytes_are_refused(tmp_path):
    entries = []
    for info, data in pt2_entries():
        if info.filename.endswith("model_weights_config.json"):
            config = json.loads(data)
            meta = config["config"]["fc1.weight"]["tensor_meta"]
            meta["sizes"] = [{"as_int": 1 << 20}, {"as_int": 1 << 12}]
            meta["strides"] = [{"as_int": 0}, {"as_int": 0}]
            data = json.dumps(config).encode()
        entries.append((info.filename, data))
    path = write_zip(tmp_path / "strides.pt2", entries)
    refused(run("run", path, *pt2_inputs(tmp_path)), "refusing to spell out")


def test_entries_with_bad_crcs_are_refused(tmp_path):
    original = FIXTURE.read_bytes()
    data = bytearray(original)
    # Flip a byte inside weight_0's stored bytes: the local header says where they start.
    with zipfile.ZipFile(FIXTURE) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("weights/weight_0"))
    name_length = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + 100] ^= 0x40
    path = tmp_path / "crc.pt2"
    path.write_bytes(bytes(data))
    refused(run("run", path, *pt2_inputs(tmp_path)), "CRC-32")


def test_duplicate_entries_are_refused(tmp_path):
    entries = [(i.filename, d) for i, d in pt2_entries()]
    weight = next((n, d) for n, d in entries if n.endswith("weights/weight_0"))
    path = tmp_path / "dup.pt2"
    with pytest.warns(UserWarning, match="Duplicate name"):
        write_zip(path, entries + [(weight[0], bytes(len(weight[1])))])
    refused(run("run", path, *pt2_inputs(tmp_path)), "two entries named")


def test_an_empty_zip_is_called_one(tmp_path):
    path = tmp_path / "empty.pt2"
    zipfile.ZipFile(path, "w").close()
    refused(run("inspect", path), "empty zip archive")


# -- engines and ONNX messages ------------------------------------------------------------------

@pytest.mark.parametrize("length", [0, 5, 19])
def test_a_short_engine_is_called_truncated(tmp_path, length):
    path = tmp_path / "short.engine"
    path.write_bytes(b"EMBERENG" + bytes(length))
    refused(run("inspect", path), "truncated")


def nested_if(depth: int) -> onnx.ModelProto:
    """`depth` If nodes, each the then-branch of the one around it."""
    def branch(level):
        if level == 0:
            node = helper.make_node("Identity", ["x"], ["out"])
        else:
            node = helper.make_node("If", ["c"], ["out"], then_branch=branch(level - 1), else_branch=branch(0))
        return helper.make_graph([node], f"g{level}", [], [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])])
    inner = branch(depth)
    graph = helper.make_graph(list(inner.node), "top",
                              [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


@pytest.mark.skip(reason="onnx's helper cannot build 400 nested levels (upb's depth limit); needs a hand-written protobuf")
def test_nested_subgraphs_are_not_called_corrupted(tmp_path):
    path = tmp_path / "if30.onnx"
    path.write_bytes(nested_if(30).SerializeToString())
    result = run("inspect", path)
    assert result.returncode in (0, 1) and "truncated or corrupted" not in result.text, result
    assert "messageDepthLimit" not in result.text, result
    path = tmp_path / "if400.onnx"
    path.write_bytes(nested_if(400).SerializeToString())
    refused(run("inspect", path), "deeper than 1000")


# -- the Python package's writers ---------------------------------------------------------------

def test_engine_save_and_compile_through_the_c_api_follow_the_same_rules(small, tmp_path, layout):
    ember = pytest.importorskip("ember")
    engine = ember.Engine.compile(small, backend="cpu")
    os.mkfifo(tmp_path / "pipe")
    for target, message in (("/dev/null", "character device"), (tmp_path / "pipe", "FIFO"), (tmp_path, "directory")):
        with pytest.raises(ember.EmberError, match=message):
            engine.save(target)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)
    saved = tmp_path / "m.engine"
    engine.save(saved)
    os.chmod(saved, 0o600)
    engine.save(saved)
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    # Models the C API opens: external data through a link is refused there too.
    model_dir, secret, _ = layout
    os.symlink(secret, model_dir / "w.bin")
    with pytest.raises(ember.EmberError, match="symbolic link") as caught:
        ember.Engine.compile(external_model(model_dir, "w.bin"), backend="cpu")
    assert SECRET.decode() not in str(caught.value)
    assert not list(tmp_path.glob(".*.tmp"))
