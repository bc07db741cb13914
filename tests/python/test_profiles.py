"""Shape profiles: `ember compile --profile`, their place in the engine file and in `ember inspect`,
runs refused outside them (CLI, C API and Python), one CPU engine of a small BERT serving batch
1..16 and sequence 16..512 against PyTorch, and the CPU plan cache staying bounded."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import ember
from ember import _lib
from harness import ember as run_ember

HIDDEN, VOCAB = 64, 100


def tiny_bert() -> torch.nn.Module:
    """A two-layer BertModel (hidden 64) returning its last hidden state."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                        vocab_size=VOCAB, max_position_embeddings=512)
    bert = BertModel(config).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, ids):
            return self.bert(input_ids=ids).last_hidden_state

    return LastHidden().eval()


@pytest.fixture(scope="module")
def bert():
    return tiny_bert()


@pytest.fixture(scope="module")
def bert_pt2(bert, module_tmp_path):
    """The BERT exported with batch 1..16 and sequence 16..512; returns the archive and its symbols
    (torch.export names them itself: batch first, then sequence)."""
    batch = torch.export.Dim("batch", min=1, max=16)
    seq = torch.export.Dim("seq", min=16, max=512)
    with torch.no_grad():
        program = torch.export.export(bert, (torch.randint(0, VOCAB, (2, 32)),), dynamic_shapes=({0: batch, 1: seq},))
    path = module_tmp_path / "bert.pt2"
    torch.export.save(program, path)
    dims = [n.meta["val"].shape for n in program.graph.nodes if n.op == "placeholder" and n.name == "ids"][0]
    return path, str(dims[0]), str(dims[1])


@pytest.fixture(scope="module")
def bert_engine(bert_pt2, module_tmp_path):
    """A CPU engine of the BERT with two profiles."""
    path, b, s = bert_pt2
    engine = module_tmp_path / "bert.engine"
    done = run_ember("compile", path, "-o", engine, "--backend", "cpu", "--profile", f"{b}=1:8:16",
                     "--profile", f"{s}=16:128:256", "--profile-set", f"{b}=1:1:1,{s}=257:512:512")
    assert done.returncode == 0, done.stderr
    assert "2 shape profiles" in done.stdout
    return engine, b, s


def test_inspect_shows_the_profiles_stored_in_the_engine(bert_engine):
    engine, b, s = bert_engine
    text = run_ember("inspect", engine)
    assert text.returncode == 0, text.stderr
    assert f"profile 0: {b}=1:8:16, {s}=16:128:256" in text.stdout
    assert f"profile 1: {b}=1:1:1, {s}=257:512:512" in text.stdout
    report = json.loads(run_ember("inspect", engine, "--json").stdout)
    assert report["profiles"] == [
        [{"symbol": b, "min": 1, "opt": 8, "max": 16}, {"symbol": s, "min": 16, "opt": 128, "max": 256}],
        [{"symbol": b, "min": 1, "opt": 1, "max": 1}, {"symbol": s, "min": 257, "opt": 512, "max": 512}],
    ]
    # The C API reads them back in the form it takes them.
    assert ember.Engine.load(engine).profiles == [f"{b}=1:8:16,{s}=16:128:256", f"{b}=1:1:1,{s}=257:512:512"]


@pytest.mark.parametrize("profile, expected", [
    ("beam=1:2:4", "'beam' is not a symbolic dim of the model's inputs; the symbolic dims of the model's inputs are"),
    ("{b}=4:2:8", "must have 1 <= MIN <= OPT <= MAX"),
    ("{b}=0:1:2", "must have 1 <= MIN <= OPT <= MAX"),
    ("{b}=1:2", "is not NAME=MIN:OPT:MAX"),
    ("{b}=1:2:18446744073709551616", "three integer sizes"),
    ("{b}=1:8:32", "outside the range torch.export recorded for '{b}', 1..16"),
    ("{s}=8:16:64", "outside the range torch.export recorded for '{s}', 16..512"),
])
def test_bad_profiles_are_refused_with_exit_1(bert_pt2, tmp_path, profile, expected):
    path, b, s = bert_pt2
    done = run_ember("compile", path, "-o", tmp_path / "x.engine", "--backend", "cpu",
                     "--profile", profile.format(b=b, s=s))
    assert done.returncode == 1, done.stdout
    assert expected.format(b=b, s=s) in done.stderr
    if "beam" in profile:
        assert f"'{b}', '{s}'" in done.stderr
    assert not (tmp_path / "x.engine").exists()


def test_runs_outside_every_profile_are_refused_unless_rebuild_is_allowed(bert, bert_engine, tmp_path):
    engine, b, s = bert_engine
    inside = np.random.default_rng(0).integers(0, VOCAB, (1, 300), dtype=np.int64)  # profile 1
    outside = np.random.default_rng(1).integers(0, VOCAB, (2, 300), dtype=np.int64)  # batch 2 at 300: neither
    np.save(tmp_path / "inside.npy", inside)
    np.save(tmp_path / "outside.npy", outside)
    done = run_ember("run", engine, "--input", tmp_path / "inside.npy", "--output-dir", tmp_path / "in")
    assert done.returncode == 0, done.stderr
    for command in (["run", engine, "--input", tmp_path / "outside.npy", "--output-dir", tmp_path / "out"],
                    ["bench", engine, "--against", "none", "--batch", "2", "--dim", f"{s}=300", "--iterations", "1"]):
        refused = run_ember(*command)
        assert refused.returncode == 1, refused.stdout
        assert f"input sizes {b}=2, {s}=300 lie outside every shape profile" in refused.stderr
        assert f"profile 0: {b}=1:8:16,{s}=16:128:256; profile 1: {b}=1:1:1,{s}=257:512:512" in refused.stderr
        assert "--allow-rebuild" in refused.stderr
    done = run_ember("run", engine, "--input", tmp_path / "outside.npy", "--output-dir", tmp_path / "out", "--allow-rebuild")
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        expected = bert(torch.from_numpy(outside)).numpy()
    got = np.load(tmp_path / "out" / next(p.name for p in (tmp_path / "out").iterdir()))
    assert np.abs(got - expected).max() <= 1e-4
    # The C API: the same refusal, and the same opt-in.
    loaded = ember.Engine.load(engine)
    with pytest.raises(ember.EmberError, match="outside every shape profile"):
        loaded.run([torch.from_numpy(outside)])
    loaded.allow_rebuild = True
    assert (loaded.run([torch.from_numpy(outside)])[0] - torch.from_numpy(expected)).abs().max() <= 1e-4


def test_one_cpu_engine_serves_batch_1_to_16_and_sequence_16_to_512(bert):
    batch = torch.export.Dim("batch", min=1, max=16)
    seq = torch.export.Dim("seq", min=16, max=512)
    example = torch.randint(0, VOCAB, (4, 64))
    compiled = ember.compile(bert, (example,), backend="cpu", dynamic_shapes=({0: batch, 1: seq},))
    assert len(compiled.engines) == 1
    (engine,) = compiled.engines
    # MIN and MAX from the Dims, OPT from the example.
    (profile,) = engine.profiles
    ranges = {item.split("=")[1] for item in profile.split(",")}
    assert ranges == {"1:4:16", "16:64:512"}, profile
    shapes = [(1, 16), (16, 512), (1, 512), (16, 16), (2, 17), (3, 64), (5, 100), (7, 128), (8, 255), (11, 300),
              (13, 384), (4, 511)]
    generator = torch.Generator().manual_seed(3)
    for b, s in shapes:
        ids = torch.randint(0, VOCAB, (b, s), generator=generator)
        with torch.no_grad():
            expected = bert(ids)
        got = compiled(ids)
        assert got.shape == (b, s, HIDDEN)
        assert (got - expected).abs().max().item() <= 1e-4, (b, s)
    # Batch 17 is a shape BERT computes, but outside the profile: refused, naming it.
    too_big = torch.randint(0, VOCAB, (17, 16), generator=generator)
    with pytest.raises(ember.EmberError, match=r"outside every shape profile of the engine \(profile 0: ") as refused:
        compiled(too_big)
    assert "is dim 0 of input 0" in str(refused.value)
    allowed = ember.compile(bert, (example,), backend="cpu", dynamic_shapes=({0: batch, 1: seq},), allow_rebuild=True)
    with torch.no_grad():
        assert (allowed(too_big) - bert(too_big)).abs().max().item() <= 1e-4


def test_dynamic_batch_is_a_shorthand_that_gets_a_profile_too():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()).eval()
    compiled = ember.compile(model, (torch.randn(3, 8),), backend="cpu", dynamic_batch=(1, 6))
    (engine,) = compiled.engines
    (profile,) = engine.profiles
    assert profile.split("=")[1] == "1:3:6"
    with pytest.raises(ember.EmberError, match="pass dynamic_batch or dynamic_shapes, not both"):
        ember.compile(model, (torch.randn(3, 8),), dynamic_batch=(1, 6),
                      dynamic_shapes=({0: torch.export.Dim("b", min=1, max=6)},))


# Runs 300 distinct shapes through one engine over the C API alone (no torch in the process, so its
# memory is Ember's) and prints the resident memory after 10 shapes and after all of them.
MEMORY_PROBE = textwrap.dedent("""
    import ctypes, sys
    import numpy as np

    def rss_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    class Tensor(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int32), ("rank", ctypes.c_int32),
                    ("dims", ctypes.POINTER(ctypes.c_int64)), ("data", ctypes.c_void_p), ("byte_size", ctypes.c_size_t)]

    lib = ctypes.CDLL(sys.argv[1])
    lib.ember_engine_load.restype = ctypes.c_void_p
    lib.ember_engine_load.argtypes = [ctypes.c_char_p]
    lib.ember_engine_set_allow_rebuild.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.ember_engine_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(Tensor), ctypes.c_int32,
                                     ctypes.POINTER(Tensor), ctypes.c_int32]
    lib.ember_last_error.restype = ctypes.c_char_p
    engine = lib.ember_engine_load(sys.argv[2].encode())
    assert engine, lib.ember_last_error()
    assert lib.ember_engine_set_allow_rebuild(engine, 1) == 0
    shapes = [(b, s) for s in range(16, 116) for b in (1, 2, 3)]
    output = np.empty(3 * 116 * int(sys.argv[3]), np.float32)
    rng = np.random.default_rng(0)
    for index, (b, s) in enumerate(shapes):
        ids = rng.integers(0, 100, (b, s), dtype=np.int64)
        dims, out_dims = (ctypes.c_int64 * 2)(b, s), (ctypes.c_int64 * 16)()
        feed = Tensor(b"ids", 7, 2, dims, ids.ctypes.data, ids.nbytes)
        result = Tensor(None, 1, 0, out_dims, output.ctypes.data, b * s * int(sys.argv[3]) * 4)
        assert lib.ember_engine_run(engine, ctypes.byref(feed), 1, ctypes.byref(result), 1) == 0, lib.ember_last_error()
        if index == 9:
            after_10 = rss_kb()
    print(len(set(shapes)), after_10, rss_kb())
""")


def test_memory_stays_bounded_over_300_distinct_shapes(bert_pt2, tmp_path):
    path, b, s = bert_pt2
    engine = tmp_path / "bert.engine"
    done = run_ember("compile", path, "-o", engine, "--backend", "cpu", "--profile", f"{b}=1:2:16")
    assert done.returncode == 0, done.stderr
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(_lib.library_path()), str(engine), str(HIDDEN)],
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    shapes, after_10, after_all = map(int, probe.stdout.split())
    assert shapes == 300
    assert after_all <= 1.5 * after_10, f"{after_10} kB after 10 shapes, {after_all} kB after 300"
