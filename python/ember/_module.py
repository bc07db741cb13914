"""The modules `ember.compile` returns: the compiled model, and one engine standing in for a region."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree

from ._engine import Engine
from ._lib import EmberError
from ._plan import Plan


class EngineModule(torch.nn.Module):
    """One region of the graph, run by an Ember engine: takes the region's tensors, returns a tuple."""

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine

    def forward(self, *args):
        return tuple(self.engine.run([a for a in args if isinstance(a, torch.Tensor)]))

    def extra_repr(self) -> str:
        return repr(self.engine)


@dataclass
class InputSpec:
    """What one flattened input must look like: a tensor's dtype and shape (None for a symbolic
    dim), or for a Python value (which the export fixed), that value."""
    dtype: torch.dtype | None
    shape: tuple[int | None, ...] = ()
    value: object = None


class CompiledModule(torch.nn.Module):
    """A model compiled by Ember, called exactly like the original.

    In eval() mode (the mode it is returned in) it runs the partitioned graph: Ember engines for the
    supported regions, PyTorch for the rest. In train() mode it runs the original module, so
    training works as before; engines keep the weights they were compiled with, so compile again
    after training.
    """

    def __init__(self, original: torch.nn.Module | None, program: torch.export.ExportedProgram,
                 graph: torch.fx.GraphModule, options: dict, batch: tuple[int, int] | None, plan: Plan):
        super().__init__()
        self.original = original
        self.program = program  # what ember.save stores, with the engines and `options`
        self.graph_module = graph
        self.options = options
        self.in_spec = program.call_spec.in_spec
        self.out_spec = program.call_spec.out_spec
        self.input_specs = input_specs(program)
        self.symbol_places = symbol_places(program)
        self.batch = batch
        self.plan = plan
        #: Where the module runs (a CUDA device for backend="cuda"), None where its inputs are.
        self.device = torch.device(options["device"]) if options.get("device") else None
        if self.device is not None:
            place(graph, self.device)
        self.missing_original = None if original is not None else "the original module is not available"
        # Shapes outside the engines' profiles are the engines' to refuse, unless allowed here.
        for engine in self.engines:
            engine.allow_rebuild = bool(options.get("allow_rebuild", False))
        # Eval mode for this module only: the user's own module keeps the mode it was in.
        self.training = False

    def train(self, mode: bool = True):
        """Switches between the original module (train) and the engines (eval). The compiled graph
        itself has no training behaviour: it was exported in eval mode."""
        self.training = mode
        if self.original is not None:
            try:
                self.original.train(mode)
            except NotImplementedError:
                pass  # a program from torch.export runs as it was exported, in either mode
        return self

    def forward(self, *args, **kwargs):
        if self.training:
            if self.original is None:
                raise EmberError(f"train() mode runs the original PyTorch module, but {self.missing_original}; "
                                 "call eval() to run the engines")
            return self.original(*args, **kwargs)
        flat, spec = pytree.tree_flatten((args, kwargs))
        refuse_capture(flat)
        if spec != self.in_spec:
            raise EmberError(f"the inputs do not match the compiled model: {describe_mismatch(spec, self.in_spec)}")
        for index, (value, expected) in enumerate(zip(flat, self.input_specs)):
            if expected is not None:
                self._check(index, value, expected)
        try:
            outputs = self.graph_module(*flat)
        except EmberError as error:
            note = symbol_note(str(error), self.symbol_places)
            if not note:
                raise
            raise EmberError(f"{error} ({note})") from error
        return pytree.tree_unflatten(list(outputs), self.out_spec)

    def _check(self, index: int, value, expected: InputSpec) -> None:
        def show(shape):
            return "(" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"
        if expected.dtype is None:
            if value != expected.value:
                raise EmberError(f"input {index} is {value!r}; the model was compiled for {expected.value!r}")
            return
        if not isinstance(value, torch.Tensor):
            raise EmberError(f"input {index} must be a tensor, received {type(value).__name__}")
        if self.device is not None and value.device != self.device:
            raise EmberError(f"input {index} is on {value.device}; the model was compiled for backend='cuda' and "
                             f"runs on {self.device}: move the inputs there (.to('{self.device}'))")
        if value.dtype != expected.dtype:
            raise EmberError(f"input {index} has dtype {value.dtype}, expected {expected.dtype}")
        fits = value.dim() == len(expected.shape) and all(
            e is None or e == d for d, e in zip(value.shape, expected.shape))
        symbolic = [d for d, e in zip(value.shape, expected.shape) if e is None]
        in_range = (self.batch is None or self.options.get("allow_rebuild", False)
                    or all(self.batch[0] <= d <= self.batch[1] for d in symbolic))
        if not fits or not in_range:
            where = f" with batch in {self.batch[0]}..{self.batch[1]}" if self.batch and None in expected.shape else ""
            raise EmberError(f"input {index} has shape {show(tuple(value.shape))}, expected {show(expected.shape)}{where}")

    def __prepare_scriptable__(self):
        # torch.jit.script calls this on every submodule before compiling it.
        raise EmberError(UNCAPTURABLE.format(what="torch.jit.script"))

    def __reduce_ex__(self, protocol):
        raise EmberError("a compiled module cannot be pickled (torch.save pickles): use ember.save(compiled, path) "
                         "and ember.load(path)")

    def __getstate__(self):
        self.__reduce_ex__(2)

    def __deepcopy__(self, memo):
        # copy.deepcopy goes through __reduce_ex__, which refuses pickling: copy the state directly.
        import copy
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone

    @property
    def engines(self) -> list[Engine]:
        """The engines, one per region, in graph order."""
        return list(self.engines_by_region().values())

    def engines_by_region(self) -> dict[str, Engine]:
        return {name: m.engine for name, m in self.graph_module.named_children() if isinstance(m, EngineModule)}


def place(graph: torch.fx.GraphModule, device: torch.device) -> None:
    """Moves what the graph's PyTorch parts hold to `device`: parameters, buffers, tensor
    constants, and the devices its ops create tensors on (an exported `arange` or `zeros` names
    the device of the export). The engines keep their own copies of the weights.

    The graph's parameters can be the user's own Parameter objects, so each is replaced by a
    copy on `device`, never moved in place (`Module.to` would move the user's model too)."""
    for module in graph.modules():
        for name, parameter in list(module._parameters.items()):
            if parameter is not None and parameter.device != device:
                module._parameters[name] = torch.nn.Parameter(parameter.detach().to(device),
                                                              requires_grad=parameter.requires_grad)
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.device != device:
                module._buffers[name] = buffer.to(device)
    for node in graph.graph.nodes:
        if node.op == "get_attr":
            owner, _, name = node.target.rpartition(".")
            holder = graph.get_submodule(owner) if owner else graph
            value = getattr(holder, name, None)
            if isinstance(value, torch.Tensor) and value.device != device:
                setattr(holder, name, value.to(device))
        where = node.kwargs.get("device") if node.op == "call_function" else None
        if isinstance(where, (torch.device, str)) and torch.device(where) != device:
            node.update_kwarg("device", device)
    graph.recompile()


#: Why a compiled module cannot be captured by torch's tracers.
UNCAPTURABLE = ("{what} cannot capture a module compiled by Ember: its engines run outside PyTorch, so a trace "
                "would record the outputs' allocation and not the work, and compute garbage. Trace, script or "
                "export the original model, or save the compiled one with ember.save")


def refuse_capture(flat: list) -> None:
    """Raises when a torch tracer (jit.trace, torch.export, dynamo) is capturing this call, whose
    inputs flattened are `flat`."""
    what = None
    if torch.jit.is_tracing() or torch._C._get_tracing_state() is not None:
        what = "torch.jit.trace"
    elif torch.compiler.is_compiling() or getattr(torch.compiler, "is_exporting", lambda: False)():
        what = "torch.export or torch.compile"
    elif torch.jit.is_scripting():
        what = "torch.jit.script"
    else:
        from torch._subclasses.fake_tensor import FakeTensor
        from torch._subclasses.functional_tensor import FunctionalTensor
        if any(isinstance(x, (FakeTensor, FunctionalTensor)) or torch._C._functorch.is_functorch_wrapped_tensor(x)
               for x in flat if isinstance(x, torch.Tensor)):
            what = "torch.export or torch.compile"
    if what is not None:
        raise EmberError(UNCAPTURABLE.format(what=what))


def describe_mismatch(received: pytree.TreeSpec, expected: pytree.TreeSpec) -> str:
    """In words, how the structure of the inputs differs from what the model was compiled for."""
    def parts(spec):
        if spec.type is tuple and spec.num_children == 2:
            positional, keywords = spec.children()
            if positional.type is tuple and keywords.type is dict:
                return positional, keywords
        return None

    got, want = parts(received), parts(expected)
    if got is None or want is None:
        return f"received inputs structured as {received}, expected {expected}"
    (got_args, got_kwargs), (want_args, want_kwargs) = got, want
    problems = []
    if got_args.num_children != want_args.num_children:
        problems.append(f"expected {want_args.num_children} positional inputs, received {got_args.num_children}")
    if sorted(got_kwargs.context) != sorted(want_kwargs.context):
        show = lambda names: ", ".join(sorted(names)) or "none"  # noqa: E731
        problems.append(f"expected keyword inputs ({show(want_kwargs.context)}), received ({show(got_kwargs.context)})")
    if not problems:
        for index, (g, w) in enumerate(zip(got_args.children(), want_args.children())):
            if g != w:
                problems.append(f"positional input {index} is structured as {_shape_of(g)}, expected {_shape_of(w)}")
        for name in want_kwargs.context:
            g = got_kwargs.children()[got_kwargs.context.index(name)]
            w = want_kwargs.children()[want_kwargs.context.index(name)]
            if g != w:
                problems.append(f"keyword input '{name}' is structured as {_shape_of(g)}, expected {_shape_of(w)}")
    return "; ".join(problems) or f"received inputs structured as {received}, expected {expected}"


def _shape_of(spec: pytree.TreeSpec) -> str:
    """A nested input's structure in words: `a tensor`, `a tuple of 2`, `a dict with keys a, b`."""
    if spec.is_leaf():
        return "a single value"
    if spec.type is dict:
        return f"a dict with keys {', '.join(map(str, spec.context))}"
    return f"a {spec.type.__name__} of {spec.num_children}"


def input_specs(program: torch.export.ExportedProgram) -> list[InputSpec | None]:
    """What each flattened user input must look like, from the export's example values."""
    users = {spec.arg.name for spec in program.graph_signature.input_specs
             if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT}
    values = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in users]
    return [InputSpec(v.dtype, tuple(d if isinstance(d, int) else None for d in v.shape))
            if isinstance(v, torch.Tensor) else InputSpec(None, value=v)
            if isinstance(v, (int, float, bool, str)) else None for v in values]


def symbol_places(program: torch.export.ExportedProgram) -> dict[str, str]:
    """Where each of torch.export's symbols (`s23`) first appears among the flattened user
    inputs (`dim 0 of input 0`), so that errors naming symbols can say what they are."""
    users = {spec.arg.name for spec in program.graph_signature.input_specs
             if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT}
    values = [n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder" and n.name in users]
    places: dict[str, str] = {}
    for index, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            for dim, size in enumerate(value.shape):
                if not isinstance(size, int):
                    places.setdefault(str(size.node.expr), f"dim {dim} of input {index}")
    return places


def symbol_note(message: str, places: dict[str, str]) -> str:
    """`s23 is dim 0 of input 0, ...` for the symbols a shape-profile error names; empty for
    other errors."""
    if "shape profile" not in message:
        return ""
    named = sorted(set(re.findall(r"\b(s\d+)=", message)) & places.keys(), key=lambda s: int(s[1:]))
    return ", ".join(f"{symbol} is {places[symbol]}" for symbol in named)
