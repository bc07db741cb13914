"""From what the user hands `ember.compile` to a `torch.export` program.

- an `nn.Module` is exported with `torch.export.export` in eval mode, then functionalized;
- an `ExportedProgram` is used as it is;
- a TorchScript module (`torch.jit.script` or `torch.jit.trace`) is converted with torch's
  TorchScript-to-ExportedProgram converter (`torch._export.converter.TS2EPConverter`), then its
  graph is exported again like any module (so `dynamic_batch` works for it too).
"""
from __future__ import annotations

import inspect
from contextlib import contextmanager

import torch
from torch.utils import _pytree as pytree

from ._lib import EmberError


def check_dynamic_batch(dynamic_batch) -> tuple[int, int] | None:
    """`None`, or `(min, max)` with 1 <= min <= max."""
    if dynamic_batch is None:
        return None
    ok = (isinstance(dynamic_batch, (tuple, list)) and len(dynamic_batch) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in dynamic_batch)
          and 1 <= dynamic_batch[0] <= dynamic_batch[1])
    if not ok:
        raise EmberError(f"dynamic_batch must be (min, max) with 1 <= min <= max, received {dynamic_batch!r}")
    return int(dynamic_batch[0]), int(dynamic_batch[1])


@contextmanager
def eval_mode(model: torch.nn.Module):
    """Puts `model` in eval mode and restores every submodule's mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    for module, _ in modes:
        module.training = False  # not eval(): a module from torch.export refuses it
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def export(model, args: tuple, kwargs: dict, dynamic_batch: tuple[int, int] | None, dynamic_shapes=None):
    """The program `ember.compile` partitions, and the example inputs it was exported with (a batch of
    1 becomes 2 with `dynamic_batch`). `dynamic_shapes` (torch.export's spec, `Dim`s for any dim
    of any input) goes to torch.export as it is. Raises EmberError when torch cannot capture the
    model."""
    if dynamic_batch is not None and dynamic_shapes is not None:
        raise EmberError("pass dynamic_batch or dynamic_shapes, not both: dynamic_batch=(min, max) is a shorthand for "
                         "a Dim('batch', min=min, max=max) on dim 0 of every input")
    if isinstance(model, torch.export.ExportedProgram):
        if dynamic_batch is not None or dynamic_shapes is not None:
            raise EmberError("an ExportedProgram keeps the dynamic shapes it was exported with; "
                             "export it with symbolic dims instead of passing dynamic_batch or dynamic_shapes")
        return functional(model), args, kwargs
    if isinstance(model, torch.jit.ScriptModule):
        model = from_torchscript(model, args, kwargs)
    if not isinstance(model, torch.nn.Module):
        raise EmberError(f"ember.compile takes an nn.Module, an ExportedProgram or a TorchScript module, "
                         f"received {type(model).__name__}")
    shapes = dynamic_shapes
    if dynamic_batch is not None:
        args, kwargs = batch_of_two(args, kwargs, dynamic_batch)
        shapes = batch_shapes(model, args, kwargs, dynamic_batch)
    try:
        with eval_mode(model), torch.no_grad():
            program = torch.export.export(model, args, kwargs, dynamic_shapes=shapes)
        return functional(program), args, kwargs
    except EmberError:
        raise
    except Exception as error:
        raise EmberError(f"torch.export could not capture the model: {type(error).__name__}: {error}") from error


def functional(program: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """The program without in-place ops. torch.export keeps the ops a model writes in place with
    (`relu_`, `add_` through a view, `dropout_` in torchvision's and timm's blocks); running its
    decompositions with an empty table functionalizes them and decomposes nothing else."""
    if not any(n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload)
               and (n.target._schema.is_mutable or n.target._schema.name.endswith("_"))
               for n in program.graph.nodes):
        return program
    try:
        with torch.no_grad():
            return program.run_decompositions({})
    except Exception as error:
        raise EmberError(f"torch could not functionalize the model's in-place ops: {type(error).__name__}: {error}") from error


def from_torchscript(model: torch.jit.ScriptModule, args: tuple, kwargs: dict) -> torch.nn.Module:
    """A TorchScript module as an FX graph module, through torch's TorchScript converter."""
    if kwargs:
        raise EmberError("TorchScript modules take positional example inputs only")
    from torch._export.converter import TS2EPConverter
    try:
        with torch.no_grad():
            return TS2EPConverter(model, args).convert().module()
    except Exception as error:
        raise EmberError(f"cannot convert the TorchScript module: {type(error).__name__}: {error}") from error


def batch_of_two(args: tuple, kwargs: dict, dynamic_batch: tuple[int, int]):
    """torch.export treats a size-1 dim as the constant 1, so an example batch of 1 is widened to 2."""
    leaves = [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor) and x.dim() > 0]
    if not leaves or any(x.shape[0] != 1 for x in leaves):
        return args, kwargs
    if dynamic_batch[1] < 2:
        return args, kwargs  # a range of one batch size: nothing symbolic to capture
    return pytree.tree_map(
        lambda x: x.expand(2, *x.shape[1:]).clone() if isinstance(x, torch.Tensor) and x.dim() > 0 else x,
        (args, kwargs))


def batch_shapes(model: torch.nn.Module, args: tuple, kwargs: dict, dynamic_batch: tuple[int, int]):
    """`dynamic_shapes` marking dim 0 of every tensor input as one symbolic batch."""
    if dynamic_batch[0] == dynamic_batch[1]:
        return None
    batch = torch.export.Dim("batch", min=dynamic_batch[0], max=dynamic_batch[1])

    def mark(x):
        return {0: batch} if isinstance(x, torch.Tensor) and x.dim() > 0 else None

    if not kwargs:
        return tuple(pytree.tree_map(mark, tuple(args), is_leaf=lambda x: x is None))
    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    return {name: pytree.tree_map(mark, value) for name, value in bound.arguments.items()}


def symbol_ranges(program: torch.export.ExportedProgram) -> dict[str, tuple[int, int]]:
    """The range torch.export recorded for each symbolic size of `program` (`s0` -> (1, 16)), for
    the shape profiles of its engines; symbols without a finite range are left out."""
    ranges = {}
    for symbol, bounds in program.range_constraints.items():
        try:
            low, high = int(bounds.lower), int(bounds.upper)
        except Exception:  # noqa: BLE001
            continue  # int_oo: no largest size to build for
        if 1 <= low <= high < 2 ** 62:
            ranges[str(symbol)] = (low, high)
    return ranges
