"""`torch.compile(model, backend="ember")`: each graph dynamo captures is compiled by `ember.compile`,
once per set of input shapes, on its first call with real inputs. It is for inference: the engines
compute no gradients, so a call that autograd would differentiate is refused.

Dynamo hands the backend a new graph when it recompiles a frame, typically when a second sequence
length makes it mark a dim dynamic: the new, symbolic graph then also serves the shapes the first,
static graph was built for. The compiled modules are therefore kept per frame and per graph
structure, not per graph object, so a shape built once is never built again.
"""
from __future__ import annotations

import operator

import torch

from . import _compile
from ._lib import EmberError

#: Compiled modules by (frame, graph structure), then by input shapes.
_BUILT: dict[tuple, dict[tuple, object]] = {}


def ember_backend(graph: torch.fx.GraphModule, example_inputs):
    """The dynamo backend: returns a function running `graph` through Ember engines."""
    # Constants the graph holds (dynamo passes parameters as inputs) tell two models of one class apart.
    constants = tuple((name, t.data_ptr()) for name, t in graph.state_dict().items())
    family = _BUILT.setdefault((_frame_id(), structure(graph), constants), {})
    sizes_only = derived_size_inputs(graph)

    @torch._dynamo.disable
    def run(*args):
        if torch.is_grad_enabled() and any(
                isinstance(a, torch.Tensor) and a.requires_grad for a in [*args, *graph.parameters()]):
            raise EmberError("backend='ember' compiles for inference: Ember's engines compute no gradients, "
                             "but autograd is on and an input or parameter requires grad. Call the model under "
                             "torch.no_grad() or torch.inference_mode(), or use another backend for training")
        rest = [a for i, a in enumerate(args) if i not in sizes_only]
        key = tuple((tuple(a.shape), a.dtype, a.device) if isinstance(a, torch.Tensor) else (type(a), a) for a in rest)
        entry = family.get(key)
        if entry is None:
            # The sizes are fixed by the key; a graph without size inputs reusing this entry lacks them.
            sizes = {i: a for i, a in enumerate(args) if i in sizes_only}
            entry = family[key] = (_compile.compile(graph, tuple(args)), sizes)
        compiled, sizes = entry
        values = iter(rest)
        return compiled(*[sizes[i] if i in sizes else next(values) for i in range(len(sizes) + len(rest))])

    return run


def _frame_id():
    """The Python frame dynamo is compiling (the same across its recompiles), or None."""
    compile_id = torch._guards.CompileContext.current_compile_id()
    return getattr(compile_id, "frame_id", None)


def _is_size(value) -> bool:
    return isinstance(value, (int, torch.SymInt, torch.Size)) and not isinstance(value, bool) or (
        isinstance(value, (tuple, list)) and value and all(_is_size(v) for v in value))


def structure(graph: torch.fx.GraphModule) -> tuple:
    """What a graph computes, with every size left out: a graph with symbolic sizes has the same
    structure as the static graph it generalizes. Tensor inputs are named by their source."""
    index, rows = {}, []
    for node in graph.graph.nodes:
        value = node.meta.get("example_value")
        if node.op == "placeholder":
            if not _is_size(value):
                index[node] = len(index)
                rows.append(("input", node.name))
            continue
        if node.op != "output" and (_is_size(value) or node.target in (operator.getitem,) and value is None):
            continue

        def arg(a):
            if isinstance(a, torch.fx.Node):
                return ("node", index[a]) if a in index else "size"
            if isinstance(a, (tuple, list)):
                return tuple(arg(x) for x in a)
            if isinstance(a, dict):
                return tuple((k, arg(v)) for k, v in a.items())
            if isinstance(a, int) and not isinstance(a, bool):
                return "size"  # a size in the static graph is a symbol in the dynamic one
            return repr(a)

        index[node] = len(index)
        rows.append((node.op, str(node.target), arg(node.args), arg(node.kwargs)))
    return tuple(rows)


def derived_size_inputs(graph: torch.fx.GraphModule) -> set[int]:
    """Positions of the inputs that are a size of a tensor input (dynamo passes those as ints): the
    tensors' shapes already say them. An int input of the user's own is part of the key."""
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    symbols = set()
    for node in placeholders:
        value = node.meta.get("example_value")
        if isinstance(value, torch.Tensor):
            for size in value.shape:
                if isinstance(size, torch.SymInt):
                    symbols.add(str(size.node.expr))
    return {i for i, node in enumerate(placeholders)
            if isinstance(node.meta.get("example_value"), torch.SymInt)
            and str(node.meta["example_value"].node.expr) in symbols}


def register() -> None:
    """Registers the backend under the name "ember" (once)."""
    from torch._dynamo.backends.registry import _BACKENDS, register_backend
    if "ember" not in _BACKENDS:
        register_backend(ember_backend, name="ember")
