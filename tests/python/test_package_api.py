"""The `ember` package's surface: input and output structures, TorchScript, save and load in a new
process, `torch.compile(backend="ember")`, train()/eval() switching, and errors as exceptions."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from harness import ember as ember_cli
from package_helpers import Mixed, Structured, assert_tree_close, eager, mixed_input, structured_inputs

import ember

HERE = Path(__file__).resolve().parent


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 5)
        self.drop = torch.nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.conv(x)).mean(dim=(2, 3))))


def image(batch=2):
    return torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(batch))


def test_nested_outputs_multiple_inputs_and_keywords():
    model = Structured().eval()
    x, y, s = structured_inputs(3)
    compiled = ember.compile(model, (x, y), dynamic_batch=(1, 8))
    assert_tree_close(compiled(x, y), eager(model, x, y))
    x4, y4, _ = structured_inputs(4)
    assert_tree_close(compiled(x4, y4), eager(model, x4, y4), "batch 4")
    with_keyword = ember.compile(model, {"x": x, "y": y, "scale": s})
    assert_tree_close(with_keyword(x=x, y=y, scale=s), eager(model, x, y, scale=s))
    with pytest.raises(ember.EmberError, match=r"expected 0 positional inputs, received 2; expected keyword inputs \(scale, x, y\)"):
        with_keyword(x, y)


class TupleAndNone(torch.nn.Module):
    def forward(self, x):
        return (x * 2, None, 3), [x.sum()]


class NoTensors(torch.nn.Module):
    def forward(self, x):
        return x.shape[0] * 2


def test_non_tensor_outputs_are_kept_or_refused_clearly():
    x = torch.randn(2, 3)
    compiled = ember.compile(TupleAndNone(), (x,))
    assert_tree_close(compiled(x), eager(TupleAndNone(), x))
    compiled = ember.compile(NoTensors(), (x,))
    assert compiled(x) == 4 and not compiled.engines
    with pytest.raises(ember.EmberError, match="ember.compile takes an nn.Module"):
        ember.compile(lambda x: x, (x,))


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_modules(kind):
    model = Small().eval()
    x = image(2)
    scripted = torch.jit.script(model) if kind == "script" else torch.jit.trace(model, (x,))
    compiled = ember.compile(scripted, (x,), dynamic_batch=(1, 4))
    assert len(compiled.engines) == 1, str(compiled.plan)
    assert_tree_close(compiled(x), eager(model, x))
    assert_tree_close(compiled(image(3)), eager(model, image(3)), "batch 3")


def test_exported_program_input():
    model = Small().eval()
    program = torch.export.export(model, (image(2),))
    compiled = ember.compile(program, (image(2),))
    assert_tree_close(compiled(image(2)), eager(model, image(2)))


def test_saved_module_runs_in_a_new_process(tmp_path):
    model, x = Mixed().eval(), mixed_input(3)
    compiled = ember.compile(model, (x,), dynamic_batch=(1, 8))
    ember.save(compiled, tmp_path / "mixed.ember")
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys, torch, ember\n"
        f"m = ember.load({str(tmp_path / 'mixed.ember')!r})\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r})\n"
        "assert len(m.engines) >= 2 and not m.training\n"
        f"torch.save(m(x), {str(tmp_path / 'y.pt')!r})\n"
        "m.train(); m(x)\n"  # the original module came along: train() mode runs it
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env=_env(HERE))
    assert proc.returncode == 0, proc.stderr
    assert_tree_close(torch.load(tmp_path / "y.pt"), eager(model, x))


def test_saved_module_without_its_original_class_runs_in_eval_mode(tmp_path):
    model, x = Small().eval(), image(2)  # Small is not importable from the new process
    ember.save(ember.compile(model, (x,)), tmp_path / "small.ember")
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import torch, ember\n"
        f"m = ember.load({str(tmp_path / 'small.ember')!r})\n"
        f"torch.save(m(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})\n"
        "m.train()\n"
        "try:\n    m(torch.zeros(2, 3, 8, 8))\nexcept ember.EmberError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "train() mode runs the original PyTorch module" in proc.stdout
    assert_tree_close(torch.load(tmp_path / "y.pt"), eager(model, x))


def _env(*paths):
    """The environment for a new process that finds `ember` (wherever it is installed) and `paths`."""
    import os
    package = Path(ember.__file__).resolve().parent.parent
    return {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [package, *paths]))}


def test_torch_compile_backend():
    model = Small().eval()
    fast = torch.compile(model, backend="ember")
    for batch in (2, 3):
        with torch.no_grad():
            assert_tree_close(fast(image(batch)), eager(model, image(batch)), f"batch {batch}")


def test_train_mode_runs_the_original_and_eval_mode_the_engines():
    model = Small().eval()
    x = image(2)
    compiled = ember.compile(model, (x,))
    assert not compiled.training
    compiled.train()
    assert model.training
    torch.manual_seed(1)
    trained = compiled(x)
    torch.manual_seed(1)
    assert torch.equal(trained, model(x))  # dropout active: the original code ran
    trained.sum().backward()
    assert model.fc.weight.grad is not None
    compiled.eval()
    assert not model.training
    assert_tree_close(compiled(x), eager(model, x))


def test_errors_are_exceptions_with_the_core_message(tmp_path):
    model, x = Small().eval(), image(2)
    with pytest.raises(ember.EmberError, match="unknown backend 'tpu'"):
        ember.compile(model, (x,), backend="tpu")
    with pytest.raises(ember.EmberError, match="unknown precision 'fp7'"):
        ember.compile(model, (x,), precision="fp7")
    with pytest.raises(ember.EmberError, match="dynamic_batch"):
        ember.compile(model, (x,), dynamic_batch=(4, 2))
    with pytest.raises(ember.EmberError, match="min_block_size"):
        ember.compile(model, (x,), min_block_size=0)
    compiled = ember.compile(model, (x,))
    with pytest.raises(ember.EmberError, match=r"input 0 has shape \(2, 3, 9, 8\)"):
        compiled(torch.zeros(2, 3, 9, 8))
    with pytest.raises(ember.EmberError, match="dtype torch.float64"):
        compiled(x.double())
    with pytest.raises(ember.EmberError, match="no such file"):
        ember.load(tmp_path / "missing.ember")
    (tmp_path / "junk.ember").write_bytes(b"not a module")
    with pytest.raises(ember.EmberError, match="not a module saved by ember.save"):
        ember.load(tmp_path / "junk.ember")
    # The engine loader's own message comes through unchanged: the CLI prints the same text.
    (tmp_path / "junk.engine").write_bytes(b"EMBERENG" + bytes(40))
    with pytest.raises(ember.EmberError) as caught:
        ember.Engine.load(tmp_path / "junk.engine")
    cli = ember_cli("run", tmp_path / "junk.engine", "--input", tmp_path / "missing.npy")
    assert cli.returncode != 0 and str(caught.value) in cli.stderr, (str(caught.value), cli.stderr)
    # An engine run with a wrong shape fails in the core, not in the interpreter.
    engine = compiled.engines[0]
    with pytest.raises(ember.EmberError, match=engine.inputs[0].name):
        engine.run([torch.zeros(1, 3, 4, 4)])


def test_damaged_files_raise_and_never_crash(tmp_path):
    import random
    model, x = Small().eval(), image(2)
    torch.export.save(torch.export.export(model, (x,)), tmp_path / "small.pt2")
    good = (tmp_path / "small.pt2").read_bytes()
    engine = ember.Engine.compile(tmp_path / "small.pt2")
    assert_tree_close(engine.run([x])[0], eager(model, x))
    engine.save(tmp_path / "small.engine")
    ember.save(ember.compile(model, (x,)), tmp_path / "small.ember")
    rng = random.Random(0)
    for name, loader in [("small.pt2", ember.Engine.compile), ("small.engine", ember.Engine.load),
                         ("small.ember", ember.load)]:
        data = (tmp_path / name).read_bytes()
        for trial in range(6):
            damaged = bytearray(data[: rng.randrange(len(data))] if trial % 2 else data)
            if trial % 2 == 0:
                for _ in range(8):
                    damaged[rng.randrange(len(damaged))] ^= 0xFF
            path = tmp_path / f"damaged-{trial}-{name}"
            path.write_bytes(bytes(damaged))
            try:
                loader(path)  # a flipped byte may land in a weight: loading then succeeds
            except ember.EmberError as error:
                assert str(error), name
    assert good == (tmp_path / "small.pt2").read_bytes()


def test_engine_refuses_wrong_dtypes_and_counts():
    model, x = Small().eval(), image(2)
    engine = ember.compile(model, (x,)).engines[0]
    with pytest.raises(ember.EmberError, match=engine.inputs[0].name):
        engine.run([x.to(torch.int32)])
    with pytest.raises(ember.EmberError, match="takes 1 inputs"):
        engine.run([x, x])
    with pytest.raises(ember.EmberError, match="complex64"):
        engine.run([torch.zeros(2, 3, 8, 8, dtype=torch.complex64)])
    (y,) = engine.run([x.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)])  # not contiguous
    assert_tree_close(y, eager(model, x))


def test_installed_library_needs_no_swift_runtime():
    import os
    import shutil as sh
    from ember import _lib
    if os.environ.get("EMBER_LIBRARY"):
        pytest.skip("EMBER_LIBRARY points at a development build; the installed library is what is checked")
    if sh.which("readelf") is None:
        pytest.skip("readelf is not installed")
    dynamic = subprocess.run(["readelf", "-d", _lib.library_path()], capture_output=True, text=True, check=True).stdout
    needed = [line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line]
    assert needed and not [n for n in needed if "swift" in n.lower() or "Foundation" in n], needed


def test_runs_from_many_threads_and_in_inference_mode():
    from concurrent.futures import ThreadPoolExecutor
    model = Small().eval()
    compiled = ember.compile(model, (image(2),), dynamic_batch=(1, 8))
    batches = [1, 2, 3, 4, 5, 6, 7, 8]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: compiled(image(b)), batches))
    for batch, result in zip(batches, results):
        assert_tree_close(result, eager(model, image(batch)), f"thread, batch {batch}")
    with torch.inference_mode():
        assert_tree_close(compiled(image(3)), eager(model, image(3)), "inference mode")


class Scaled(torch.nn.Module):
    def forward(self, x, factor: int):
        return x * factor


def test_python_value_inputs_are_fixed_at_compile_time():
    x = torch.randn(2, 3)
    compiled = ember.compile(Scaled(), (x, 3))
    assert_tree_close(compiled(x, 3), x * 3)
    with pytest.raises(ember.EmberError, match="input 1 is 4; the model was compiled for 3"):
        compiled(x, 4)
