"""Slow placements are visible before anyone times them: `ember.explain` names the kernel that runs
each op and marks reference kernels, and `require_full_compilation=True` (the CLI's
`--require-full`) turns every fallback into an error naming the ops: to PyTorch, to a reference
kernel, and to PyTorch because the CUDA backend cannot run here. Without it the model still runs,
and matches PyTorch eager."""
from __future__ import annotations

import pytest
import torch
from harness import assert_close, ember as ember_cli
from package_helpers import Mixed, assert_tree_close, eager, mixed_input

import ember
from ember import _lib


class SmallCNN(torch.nn.Module):
    """Convolutions, batch norm, ReLU, a pool and a linear head: all on optimized fp32 CPU kernels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.norm(self.conv1(x)))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1))


class WithCumSum(torch.nn.Module):
    """A running sum of the input before two linear layers: Ember runs aten.cumsum only on a
    reference kernel on the CPU."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(8, 16)
        self.b = torch.nn.Linear(16, 4)

    def forward(self, x):
        return self.b(torch.relu(self.a(torch.cumsum(x, 1))))


class RollBatch(torch.nn.Module):
    """aten.roll has a converter, but Ember cannot roll along a symbolic dim: the build fails."""

    def forward(self, x):
        return torch.roll(torch.tanh(x), 1, 0) + 1


def image(batch: int = 2, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, 3, 12, 12, generator=torch.Generator().manual_seed(batch)).to(dtype)


def test_a_fully_supported_fp32_cnn_passes_and_matches_eager():
    model, x = SmallCNN().eval(), image()
    compiled = ember.compile(model, (x,), require_full_compilation=True)
    plan = compiled.plan
    assert not plan.ops("pytorch") and not plan.slow_kernels and not plan.fallbacks(), plan
    assert plan.backend == "cpu" and plan.kernels, plan
    convs = [d for d in plan.decisions if d.op == "aten.conv2d.default"]
    assert len(convs) == 2 and all(d.kernel and not d.reference for d in convs), plan
    assert "REFERENCE" not in str(plan)
    assert_tree_close(compiled(x), eager(model, x))


def test_explain_names_the_kernel_of_each_engine_node():
    plan = ember.explain(SmallCNN().eval(), (image(),))
    (region,) = plan.regions
    kernels = plan.kernels[region]
    assert kernels and all(k.implementation and not k.reference for k in kernels), plan
    assert {k.provider for k in kernels} <= {"onednn", "ember"}, plan
    text = str(plan)
    for k in kernels:
        assert f"[{k.implementation}]" in text, text


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_cpu_models_are_flagged_and_refused(dtype):
    model, x = SmallCNN().eval().to(dtype), image(dtype=dtype)
    plan = ember.explain(model, (x,))
    convs = [d for d in plan.decisions if d.op == "aten.conv2d.default"]
    assert convs and all(d.runs_on == "ember" and d.reference for d in convs), plan
    assert all("reference kernel" in d.reason and d.reason != "supported" for d in convs), plan
    assert "REFERENCE KERNEL" in str(plan) and "on reference kernels" in str(plan).splitlines()[0]
    with pytest.raises(ember.FullCompilationError, match=r"(?s)'conv2d' .*runs a reference kernel.*oneDNN kernels run f32"):
        ember.compile(model, (x,), require_full_compilation=True)
    # Without the flag it still compiles and runs: slowly, but right.
    compiled = ember.compile(model, (x,))
    tolerance = 2e-2  # 8 (bf16) or 11 (fp16) bits of mantissa, rounded between kernels
    assert_close(compiled(x).float().numpy(), eager(SmallCNN().eval(), x.float()).numpy(), tolerance)


def test_an_fp32_op_with_only_a_reference_kernel_is_flagged_and_refused():
    model, x = WithCumSum().eval(), torch.randn(3, 8)
    plan = ember.explain(model, (x,))
    (running,) = [d for d in plan.decisions if d.op == "aten.cumsum.default"]
    assert running.runs_on == "ember" and running.reference and "reference kernel" in running.reason, plan
    linears = [d for d in plan.decisions if d.op == "aten.linear.default"]
    assert linears and not any(d.reference for d in linears), plan
    with pytest.raises(ember.FullCompilationError, match=r"'cumsum' \(cum_sum, in ember_engine_0\) runs a reference kernel") as raised:
        ember.compile(model, (x,), require_full_compilation=True)
    assert "linear" not in str(raised.value)
    assert_tree_close(ember.compile(model, (x,))(x), eager(model, x))


def test_ops_ember_cannot_import_are_refused_and_fall_back_without_the_flag():
    model, x = Mixed().eval(), mixed_input()
    with pytest.raises(ember.FullCompilationError) as raised:
        ember.compile(model, (x,), require_full_compilation=True)
    message = str(raised.value)
    assert "'lstm' (aten.lstm.input) runs in PyTorch" in message and "no converter" in message, message
    assert "complex64" in message and "linear" not in message, message
    assert isinstance(raised.value, ember.EmberError)
    compiled = ember.compile(model, (x,))
    assert compiled.plan.ops("pytorch") and compiled.engines
    assert_tree_close(compiled(x), eager(model, x))


def test_a_region_that_fails_to_build_is_refused_and_falls_back_without_the_flag():
    model, x = RollBatch(), torch.randn(3, 4)
    with pytest.raises(ember.FullCompilationError, match=r"could not be built: .*node 'roll'"):
        ember.compile(model, (x,), dynamic_batch=(1, 8), require_full_compilation=True)
    with pytest.warns(UserWarning, match="Ember runs node 'roll' in PyTorch"):
        compiled = ember.compile(model, (x,), dynamic_batch=(1, 8))
    y = torch.randn(5, 4)
    assert_tree_close(compiled(y), eager(model, y))


def test_fallback_ops_and_small_regions_count_as_fallbacks():
    model, x = SmallCNN().eval(), image()
    with pytest.raises(ember.FullCompilationError, match=r"'relu' \(aten.relu.default\) runs in PyTorch: listed in fallback_ops"):
        ember.compile(model, (x,), fallback_ops=["aten.relu"], require_full_compilation=True)
    with pytest.raises(ember.FullCompilationError, match="fewer than min_block_size=1000"):
        ember.compile(model, (x,), min_block_size=1000, require_full_compilation=True)
    with pytest.raises(ember.FullCompilationError, match="reference backend runs every op on reference kernels"):
        ember.compile(model, (x,), backend="reference", require_full_compilation=True)


def test_cuda_without_a_usable_backend_is_refused():
    reason = _lib.backend_unavailable("cuda")
    if reason is None:
        print("skipped: this machine runs the CUDA backend, so backend='cuda' is not a fallback here")
        pytest.skip("this machine runs the CUDA backend")
    model, x = SmallCNN().eval(), image()
    with pytest.raises(ember.FullCompilationError, match=r"backend 'cuda' cannot run here.*CUDA"):
        ember.compile(model, (x,), backend="cuda", require_full_compilation=True)
    # Without the flag: a warning, and the model runs in PyTorch.
    with pytest.warns(UserWarning, match="in PyTorch"):
        compiled = ember.compile(model, (x,), backend="cuda")
    assert not compiled.engines
    assert_tree_close(compiled(x), eager(model, x))


def test_a_loaded_module_reports_its_kernels(tmp_path):
    model, x = WithCumSum().eval(), torch.randn(3, 8)
    ember.save(ember.compile(model, (x,)), tmp_path / "model.ember")
    loaded = ember.load(tmp_path / "model.ember")
    assert [k.node for _, k in loaded.plan.slow_kernels] == ["cumsum"], loaded.plan
    assert_tree_close(loaded(x), eager(model, x))


def test_the_c_api_reports_placements_for_given_shapes_and_refuses_bad_calls(exported):
    engine = ember.Engine.compile(exported["fp32"])
    declared = engine.placements()
    batched = engine.placements([torch.empty(1, 3, 12, 12)])
    assert [k.node for k in declared] == [k.node for k in batched] and declared, declared
    assert all(k.provider in ("onednn", "ember") and k.implementation and k.fallback is None for k in batched), batched
    half = ember.Engine.compile(exported["bf16"]).placements()
    slow = [k for k in half if k.fallback]
    assert {"conv2d", "conv2d_1", "linear"} <= {k.node for k in slow}, half
    assert all(k.reference and k.provider == "reference" and "bf16" in k.fallback for k in slow), half
    reference = ember.Engine.compile(exported["fp32"], backend="reference").placements()
    assert len(reference) == len(declared) and all(k.reference for k in reference)
    with pytest.raises(ember.EmberError, match="dim 0"):
        engine.placements([torch.empty(4, 3, 12, 12)])  # the engine was built for batch 1
    assert _lib.lib().ember_engine_placements(None, None, 0) is None and "NULL" in _lib.last_error()
    assert _lib.backend_unavailable("cpu") is None and _lib.backend_unavailable("auto") is None
    assert "unknown backend 'tpu'" in _lib.backend_unavailable("tpu")


@pytest.fixture(scope="module")
def exported(module_tmp_path):
    """SmallCNN exported in fp32 and in bf16, as .pt2 files."""
    paths = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        program = torch.export.export(SmallCNN().eval().to(dtype), (image(1, dtype),))
        paths[name] = module_tmp_path / f"{name}.pt2"
        torch.export.save(program, paths[name])
    return paths


@pytest.mark.parametrize("command", ["compile", "run", "bench", "inspect"])
def test_cli_require_full_exits_1_naming_the_reference_nodes(exported, tmp_path, command):
    extra = {"compile": ["-o", tmp_path / "model.engine"], "run": ["--output-dir", tmp_path], "bench": [],
             "inspect": []}[command]
    proc = ember_cli(command, exported["bf16"], *extra, "--require-full")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "full compilation refused" in proc.stderr and "'conv2d' (fused_epilogue) runs a reference kernel" in proc.stderr
    if command == "compile":
        assert not (tmp_path / "model.engine").exists()
        assert ember_cli(command, exported["bf16"], *extra).returncode == 0  # without the flag


def test_cli_require_full_passes_a_fully_supported_model_and_refuses_the_reference_backend(exported, tmp_path):
    proc = ember_cli("compile", exported["fp32"], "-o", tmp_path / "model.engine", "--require-full")
    assert proc.returncode == 0, proc.stderr
    proc = ember_cli("run", tmp_path / "model.engine", "--require-full", "--output-dir", tmp_path)
    assert "full compilation refused" not in proc.stderr, proc.stderr
    proc = ember_cli("compile", exported["fp32"], "-o", tmp_path / "ref.engine", "--backend", "reference", "--require-full")
    assert proc.returncode == 1 and "reference backend runs every node on reference kernels" in proc.stderr, proc.stderr
    if _lib.backend_unavailable("cuda") is not None:
        proc = ember_cli("compile", exported["fp32"], "-o", tmp_path / "cuda.engine", "--backend", "cuda", "--require-full")
        assert proc.returncode == 1 and "cuda" in proc.stderr.lower(), proc.stderr
