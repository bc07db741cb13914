"""ATen ops the .pt2 importer maps onto IR ops the ONNX importer also uses agree with PyTorch eager.

Each case is a tiny module around one op (several shapes and attributes per op), exported with
`torch.export` and checked three ways on random inputs: `ember run` on the saved archive as
exported and after `run_decompositions()` (the core ATen op set), and `ember.compile`, which must
run every op in Ember. The exported graph must still hold the op under test, so a torch upgrade
that decomposes it earlier shows up here instead of passing vacuously. Floating outputs must
agree within each case's tolerance of the largest reference magnitude; integer outputs exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import ember
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harness import assert_close, ember as run_cli, output_file_name
from torch import nn


@dataclass
class Case:
    """`module` fed `inputs`; `op` must appear in the exported graph (and `decomposed_op`, when set,
    after `run_decompositions()`)."""
    module: nn.Module
    inputs: tuple
    op: str
    decomposed_op: str | None = None
    rtol: float = 1e-5


class Fn(nn.Module):
    """A module calling `fn(self, *inputs)`; parameters and buffers live in `parts`."""

    def __init__(self, fn, **parts):
        super().__init__()
        self.fn = fn
        for name, part in parts.items():
            if isinstance(part, nn.Module):
                self.add_module(name, part)
            else:
                self.register_buffer(name, part)

    def forward(self, *inputs):
        return self.fn(self, *inputs)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def uniform(low, high, *shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * (high - low) + low


def randomized(module: nn.Module, seed: int = 1) -> nn.Module:
    """The module with random parameters and running statistics (not the ones and zeros torch starts with)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if b.is_floating_point():
                b.copy_(torch.rand(b.shape, generator=g) + 0.5 if "var" in name else torch.randn(b.shape, generator=g))
    return module.eval()


def instance(norm: nn.Module, *shape) -> Case:
    stats = norm.track_running_stats
    return Case(randomized(norm), (randn(*shape),), "aten.instance_norm.default",
                None if stats else "aten._native_batch_norm_legit.no_stats", rtol=1e-5)


def unary(fn, x, op, decomposed=True) -> Case:
    return Case(Fn(lambda s, x: fn(x)), (x,), op, op if decomposed else None)


def in_place_rows(x, v):
    x = x.clone()
    x[torch.tensor([4, 1])] = v
    return x


x4 = randn(2, 8, 6, 6)
index = torch.randint(0, 8, (2, 3, 6, 5), generator=torch.Generator().manual_seed(3))

CASES = {
    # InstanceNormalization
    "instance_norm2d_affine": instance(nn.InstanceNorm2d(8, affine=True), 2, 8, 6, 6),
    "instance_norm1d": instance(nn.InstanceNorm1d(4), 3, 4, 10),
    "instance_norm3d_batch1": instance(nn.InstanceNorm3d(3, affine=True, eps=1e-3), 1, 3, 4, 5, 3),
    "instance_norm2d_running_stats": instance(nn.InstanceNorm2d(8, affine=True, track_running_stats=True), 2, 8, 6, 6),
    "batch_norm_batch_statistics": Case(
        Fn(lambda s, x: F.batch_norm(x, None, None, s.w, s.b, training=True), w=randn(4, seed=5), b=randn(4, seed=6)),
        (randn(3, 4, 5, 2),), "aten.batch_norm.default", "aten._native_batch_norm_legit.no_stats"),
    # DepthToSpace / SpaceToDepth in CRD order
    "pixel_shuffle2": Case(nn.PixelShuffle(2), (randn(2, 8, 5, 6),), "aten.pixel_shuffle.default"),
    "pixel_shuffle3": Case(nn.PixelShuffle(3), (randn(1, 18, 4, 3),), "aten.pixel_shuffle.default"),
    "pixel_shuffle_rank5": Case(nn.PixelShuffle(2), (randn(2, 3, 8, 4, 5),), "aten.pixel_shuffle.default"),
    "pixel_shuffle_rank3": Case(nn.PixelShuffle(2), (randn(8, 3, 4),), "aten.pixel_shuffle.default"),
    "pixel_unshuffle2": Case(nn.PixelUnshuffle(2), (randn(2, 3, 8, 6),), "aten.pixel_unshuffle.default"),
    "pixel_unshuffle3": Case(nn.PixelUnshuffle(3), (randn(1, 2, 9, 6),), "aten.pixel_unshuffle.default"),
    "channel_shuffle2": Case(nn.ChannelShuffle(2), (randn(2, 8, 5, 5),), "aten.channel_shuffle.default"),
    "channel_shuffle3_rank3": Case(nn.ChannelShuffle(3), (randn(2, 6, 4),), "aten.channel_shuffle.default"),
    # Variance and standard deviation, with their means
    "var_mean": Case(Fn(lambda s, x: torch.var_mean(x, dim=1)), (x4,), "aten.var_mean.dim",
                     "aten.var_mean.correction"),
    "var_mean_keepdim_biased": Case(Fn(lambda s, x: torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)), (x4,),
                                    "aten.var_mean.correction", "aten.var_mean.correction"),
    "std": Case(Fn(lambda s, x: torch.std(x, dim=-1)), (x4,), "aten.std.dim"),
    "std_mean": Case(Fn(lambda s, x: torch.std_mean(x, dim=(0, 2), unbiased=False)), (x4,), "aten.std_mean.dim",
                     "aten.var_mean.correction"),
    # ReduceMax / ReduceMin with ArgMax / ArgMin, and the other reductions
    "max_dim": Case(Fn(lambda s, x: torch.max(x, 1)), (x4,), "aten.max.dim", "aten.max.dim"),
    "min_dim_keepdim": Case(Fn(lambda s, x: torch.min(x, -1, keepdim=True)), (x4,), "aten.min.dim", "aten.min.dim"),
    "max_all": Case(Fn(lambda s, x: x.max()), (x4,), "aten.max.default", "aten.max.default"),
    "min_all": Case(Fn(lambda s, x: x.min()), (x4,), "aten.min.default", "aten.min.default"),
    "logsumexp": Case(Fn(lambda s, x: torch.logsumexp(x * 10, dim=(1, 2))), (x4,), "aten.logsumexp.default"),
    "vector_norm2": Case(Fn(lambda s, x: torch.linalg.vector_norm(x, dim=1)), (x4,), "aten.linalg_vector_norm.default"),
    "vector_norm1_keepdim": Case(Fn(lambda s, x: torch.linalg.vector_norm(x, 1, dim=-1, keepdim=True)), (x4,),
                                 "aten.linalg_vector_norm.default"),
    "vector_norm_inf": Case(Fn(lambda s, x: torch.linalg.vector_norm(x, float("inf"), dim=(2, 3))), (x4,),
                            "aten.linalg_vector_norm.default"),
    "normalize": Case(Fn(lambda s, x: F.normalize(x, dim=1)), (x4,), "aten.linalg_vector_norm.default"),
    "sort": Case(Fn(lambda s, x: torch.sort(x, 1)), (x4,), "aten.sort.default", "aten.sort.default"),
    "sort_descending": Case(Fn(lambda s, x: torch.sort(x, -1, descending=True)), (x4,), "aten.sort.default",
                            "aten.sort.default"),
    "argsort": Case(Fn(lambda s, x: torch.argsort(x, 2)), (x4,), "aten.argsort.default", "aten.sort.default"),
    # Slice with negative steps
    "flip": Case(Fn(lambda s, x: torch.flip(x, [1])), (x4,), "aten.flip.default", "aten.flip.default"),
    "flip_two_dims": Case(Fn(lambda s, x: torch.flip(x, [0, -1])), (x4,), "aten.flip.default", "aten.flip.default"),
    # Tile
    "tile": Case(Fn(lambda s, x: x.tile(2, 1, 3)), (x4,), "aten.tile.default"),
    # ScatterElements
    "scatter_src": Case(Fn(lambda s, x: x.scatter(1, s.i, x * 2 + 1), i=index), (x4,), "aten.scatter.src",
                        "aten.scatter.src"),
    "scatter_value": Case(Fn(lambda s, x: x.scatter(1, s.i, 7.5), i=index), (x4,), "aten.scatter.value",
                          "aten.scatter.value"),
    "scatter_add": Case(Fn(lambda s, x: x.scatter_add(1, s.i, x[:, :3, :, :5] * 3), i=index), (x4,),
                        "aten.scatter_add.default", "aten.scatter_add.default"),
    "scatter_reduce_multiply": Case(Fn(lambda s, x: x.scatter(2, s.i[:, :, :4] % 6, x, reduce="multiply"), i=index), (x4,),
                                    "aten.scatter.reduce"),
    # GatherND on index dims anywhere (what nearest-exact and bicubic upsampling decompose into)
    "index_middle_dims": Case(Fn(lambda s, x: x[:, s.i, s.j], i=torch.tensor([[0, 7, 3], [5, 5, 1]]),
                                 j=torch.tensor([2, 0, -1])), (x4,), "aten.index.Tensor", "aten.index.Tensor"),
    "index_non_adjacent": Case(Fn(lambda s, x: x[s.i, :, s.j], i=torch.tensor([1, 0, 1, 1]),
                                  j=torch.tensor([5, 0, 2, 3])), (x4,), "aten.index.Tensor", "aten.index.Tensor"),
    # ScatterND (index tensors on the leading dims) and Where (one boolean mask)
    "index_put_rows": Case(Fn(lambda s, x: torch.index_put(x, (s.i,), s.v), i=torch.tensor([3, 0]), v=randn(6, seed=4)),
                           (randn(4, 6),), "aten.index_put.default", "aten.index_put.default"),
    "index_put_accumulate": Case(
        Fn(lambda s, x: torch.index_put(x, (s.i, s.j), s.v, accumulate=True), i=torch.tensor([[1, 1], [0, 1]]),
           j=torch.tensor([2, 2]), v=randn(2, 2, 5, seed=4)),
        (randn(2, 3, 5),), "aten.index_put.default", "aten.index_put.default"),
    "index_put_mask": Case(Fn(lambda s, x: torch.index_put(x, (x[:, :, 0] > 0,), torch.tensor(0.5))), (randn(3, 4, 5),),
                           "aten.index_put.default", "aten.index_put.default"),
    "index_put_in_place": Case(Fn(lambda s, x: in_place_rows(x, s.v), v=randn(2, 6, seed=4)), (randn(5, 6),),
                               "aten.index_put_.default", "aten.index_put.default"),
    # Expand (aten.copy writes src into a tensor of self's shape; circular padding decomposes into it)
    "circular_pad": Case(Fn(lambda s, x: F.pad(x, (1, 2, 2, 1), mode="circular")), (randn(2, 3, 5, 4),),
                         "aten.pad.default", "aten.copy.default"),
    # EyeLike
    "eye": Case(Fn(lambda s, x: x + torch.eye(4) * 2 + torch.eye(4, 6)[:, 1:5]), (randn(4, 4),), "aten.eye.default"),
    # IsInf / IsNaN
    "isfinite": Case(Fn(lambda s, x: torch.isfinite(x / s.d), d=torch.tensor([1.0, 0.0, -0.0, 2.0])),
                     (torch.tensor([[1.0, -2.0, 0.0, float("nan")], [0.0, 3.0, 1.0, float("inf")]]),),
                     "aten.isfinite.default"),
    "scatter_reduce_amax": Case(Fn(lambda s, x: x.scatter_reduce(1, s.i, x[:, :3, :, :5] * 2, "amax"), i=index), (x4,),
                                "aten.scatter_reduce.two", "aten.scatter_reduce.two"),
    "scatter_reduce_sum": Case(Fn(lambda s, x: x.scatter_reduce(3, s.i % 6, x[:, :3, :, :5], "sum"), i=index), (x4,),
                               "aten.scatter_reduce.two", "aten.scatter_reduce.two"),
    # OneHot
    "one_hot": Case(Fn(lambda s, x: F.one_hot(x, 10)), (torch.tensor([[0, 3, 9], [2, 2, 7]]),), "aten.one_hot.default"),
    # Resize
    "bicubic_scale2": Case(Fn(lambda s, x: F.interpolate(x, scale_factor=2, mode="bicubic")), (x4,),
                           "aten.upsample_bicubic2d.vec", rtol=1e-5),
    "bicubic_align_corners_size": Case(
        Fn(lambda s, x: F.interpolate(x, size=(7, 9), mode="bicubic", align_corners=True)), (x4,),
        "aten.upsample_bicubic2d.vec", rtol=1e-5),
    "nearest_exact_scale2": Case(Fn(lambda s, x: F.interpolate(x, scale_factor=2, mode="nearest-exact")), (x4,),
                                 "aten._upsample_nearest_exact2d.vec"),
    "nearest_exact_size": Case(Fn(lambda s, x: F.interpolate(x, size=(4, 11), mode="nearest-exact")), (x4,),
                               "aten._upsample_nearest_exact2d.vec"),
    "nearest_exact1d": Case(Fn(lambda s, x: F.interpolate(x, size=7, mode="nearest-exact")), (randn(2, 3, 5),),
                            "aten._upsample_nearest_exact1d.vec"),
    # Pooling
    "adaptive_max_pool1d_global": Case(nn.AdaptiveMaxPool1d(1), (randn(2, 3, 10),), "aten.adaptive_max_pool1d.default"),
    "adaptive_max_pool1d": Case(nn.AdaptiveMaxPool1d(5), (randn(2, 3, 10),), "aten.adaptive_max_pool1d.default"),
    # Activations
    "selu": unary(F.selu, x4, "aten.selu.default", decomposed=False),
    "elu_scaled": Case(Fn(lambda s, x: torch.ops.aten.elu(x, 0.7, 1.3)), (x4,), "aten.elu.default", "aten.elu.default"),
    "celu": Case(Fn(lambda s, x: F.celu(x, alpha=0.5)), (x4,), "aten.celu.default"),
    "threshold_zero": Case(nn.Threshold(0.1, 0.0), (x4,), "aten.threshold.default"),
    "threshold_value": Case(nn.Threshold(-0.2, 2.5), (x4,), "aten.threshold.default"),
    "rrelu_eval": Case(nn.RReLU(0.1, 0.3).eval(), (x4,), "aten.rrelu.default", "aten.rrelu_with_noise_functional.default"),
    "prelu_channels": Case(randomized(nn.PReLU(8)), (x4,), "aten.prelu.default"),
    "prelu_single_2d": Case(randomized(nn.PReLU()), (randn(4, 10),), "aten.prelu.default"),
    "log_sigmoid": Case(nn.LogSigmoid(), (x4 * 30,), "aten.log_sigmoid.default"),
    "glu": Case(nn.GLU(1), (x4,), "aten.glu.default"),
    "hardshrink": Case(nn.Hardshrink(0.3), (x4,), "aten.hardshrink.default"),
    "softshrink": Case(nn.Softshrink(0.4), (x4,), "aten.softshrink.default"),
    "lerp_scalar": Case(Fn(lambda s, a, b: torch.lerp(a, b, 0.3)), (x4, randn(8, 6, 6, seed=1)), "aten.lerp.Scalar"),
    "lerp_tensor": Case(Fn(lambda s, a, b: torch.lerp(a, b, s.w), w=randn(6, seed=2)), (x4, randn(8, 6, 6, seed=1)),
                        "aten.lerp.Tensor"),
    "addcmul": Case(Fn(lambda s, a, b: torch.addcmul(a, a, b, value=0.5)), (x4, randn(6, seed=1)), "aten.addcmul.default"),
    "addcdiv": Case(Fn(lambda s, a, b: torch.addcdiv(a, a, b.abs() + 1, value=-2)), (x4, randn(6, seed=1)),
                    "aten.addcdiv.default"),
    # Unary math
    "sinh": unary(torch.sinh, x4, "aten.sinh.default"),
    "cosh": unary(torch.cosh, x4, "aten.cosh.default"),
    "asin": unary(torch.asin, uniform(-0.99, 0.99, 2, 8, 6, 6), "aten.asin.default"),
    "acos": unary(torch.acos, uniform(-0.99, 0.99, 2, 8, 6, 6), "aten.acos.default"),
    "asinh": unary(torch.asinh, x4 * 3, "aten.asinh.default"),
    "acosh": unary(torch.acosh, x4.abs() * 3 + 1, "aten.acosh.default"),
    "atanh": unary(torch.atanh, uniform(-0.95, 0.95, 2, 8, 6, 6), "aten.atanh.default"),
    # Composed from Log, Exp, Sign, Floor and Abs
    "log2": unary(torch.log2, x4.abs() * 10 + 1e-3, "aten.log2.default"),
    "exp2": unary(torch.exp2, x4 * 4, "aten.exp2.default"),
    "trunc": unary(torch.trunc, x4 * 5, "aten.trunc.default"),
    "frac": Case(Fn(lambda s, x: torch.frac(x)), (x4 * 5,), "aten.frac.default", "aten.trunc.default"),
    # BitShift (arithmetic right shifts of signed values, as torch does)
    "shift_scalar": Case(Fn(lambda s, x: (x << 3, x >> 2)), (torch.randint(-1000, 1000, (4, 6), generator=torch.Generator().manual_seed(0)),),
                         "aten.__lshift__.Scalar", "aten.__lshift__.Scalar"),
    "shift_tensor_i32": Case(Fn(lambda s, x, y: (x << y, x >> y)),
                             (torch.randint(-1000, 1000, (4, 6), dtype=torch.int32, generator=torch.Generator().manual_seed(0)),
                              torch.arange(6, dtype=torch.int32)), "aten.__rshift__.Tensor"),
    # MatMul and friends
    "mv": Case(Fn(lambda s, a, v: torch.mv(a, v)), (randn(5, 7), randn(7, seed=1)), "aten.mv.default"),
    "dot": Case(Fn(lambda s, a, b: torch.dot(a, b)), (randn(9), randn(9, seed=1)), "aten.dot.default"),
    "outer": Case(Fn(lambda s, a, b: torch.outer(a, b)), (randn(4), randn(6, seed=1)), "aten.outer.default"),
    "addmv": Case(Fn(lambda s, c, a, v: torch.addmv(c, a, v, beta=0.5, alpha=2.0)),
                  (randn(5, seed=2), randn(5, 7), randn(7, seed=1)), "aten.addmv.default", "aten.addmv.default"),
}


def eager(module, inputs):
    with torch.no_grad():
        out = module(*inputs)
    return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def targets(program) -> set[str]:
    return {str(n.target) for n in program.graph.nodes if n.op == "call_function"}


@pytest.mark.parametrize("decompose", [False, True], ids=["exported", "decomposed"])
@pytest.mark.parametrize("name", list(CASES))
def test_pt2_op_matches_pytorch(name, decompose, tmp_path):
    case = CASES[name]
    with torch.no_grad():
        program = torch.export.export(case.module, case.inputs)
        if decompose:
            program = program.run_decompositions()
    expected_op = case.decomposed_op if decompose else case.op
    if expected_op:
        assert expected_op in targets(program), f"{name}: torch no longer exports {expected_op}: {sorted(targets(program))}"
    path = tmp_path / "model.pt2"
    torch.export.save(program, str(path))
    signature = program.graph_signature
    args = ["run", str(path), "--output-dir", str(tmp_path / "out")]
    for i, (input_name, value) in enumerate(zip(signature.user_inputs, case.inputs)):
        np.save(tmp_path / f"in{i}.npy", value.numpy())
        args += ["--input", f"{input_name}={tmp_path / f'in{i}.npy'}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    expected = eager(case.module, case.inputs)
    assert len(signature.user_outputs) == len(expected)
    for i, (output_name, e) in enumerate(zip(signature.user_outputs, expected)):
        actual = np.load(tmp_path / "out" / output_file_name(output_name))
        assert_close(actual, e, case.rtol, what=f"{name} ({'decomposed' if decompose else 'exported'}) output {i}")


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_op_matches_pytorch(name):
    case = CASES[name]
    compiled = ember.compile(case.module, case.inputs, backend="cpu")
    assert not compiled.plan.ops("pytorch"), str(compiled.plan)
    expected = eager(case.module, case.inputs)
    with torch.no_grad():
        out = compiled(*case.inputs)
    actual = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_close(a, e, case.rtol, what=f"{name} (ember.compile) output {i}")


def test_unsupported_attributes_are_refused_by_name(tmp_path):
    """An order linalg_vector_norm has no reduction for fails the import naming the op, not a crash."""
    module = Fn(lambda s, x: torch.linalg.vector_norm(x, 3, dim=1))
    path = tmp_path / "norm3.pt2"
    program = torch.export.export(module, (x4,))
    torch.export.save(program, str(path))
    np.save(tmp_path / "x.npy", x4.numpy())
    name = program.graph_signature.user_inputs[0]
    proc = run_cli("run", path, "--input", f"{name}={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "out")
    assert proc.returncode == 1, proc.stderr
    assert "aten.linalg_vector_norm" in proc.stderr and "ord 3" in proc.stderr, proc.stderr
