"""`ember.compile` and `ember.explain`: export, partition, build one engine per region."""
from __future__ import annotations

import operator
import re
import tempfile
import warnings
from pathlib import Path

import torch
from torch.fx import GraphModule, Node
from torch.fx.graph import CodeGen
from torch.fx.passes.utils.fuser_utils import fuse_by_partitions

from . import _lib
from ._engine import Engine
from ._export import check_dynamic_batch, export, symbol_ranges
from ._lib import EmberError, FullCompilationError
from ._module import CompiledModule, EngineModule
from ._plan import PYTORCH, Plan, fallback_names, partition


def compile(model, example_inputs, *, backend: str = "auto", precision: str = "fp32", dynamic_batch=None,
            dynamic_shapes=None, allow_rebuild: bool = False, fallback_ops=(), min_block_size: int = 1,
            require_full_compilation: bool = False) -> CompiledModule:
    """Compiles a PyTorch model with Ember; returns a module called exactly like the original.

        compiled = ember.compile(model, (x,), dynamic_batch=(1, 64))
        y = compiled(x)

    `model` is an `nn.Module`, a `torch.export.ExportedProgram` or a TorchScript module.
    `example_inputs` is a tuple of positional inputs (a single tensor and a dict of keyword inputs
    work too). `backend` is "auto" (the best backend this machine has) or a backend's name;
    `precision` is "fp32". `dynamic_batch=(min, max)` exports dim 0 of every tensor input as one
    symbolic batch, so one engine serves every batch size in the range; without it, the shapes are
    those of the examples. `dynamic_shapes` is torch.export's own spec (`torch.export.Dim` for any
    dim of any input), passed to torch.export as it is; `dynamic_batch` is its shorthand for dim 0.
    Each engine gets a shape profile from it: a symbol's MIN and MAX are its Dim's min and max, OPT
    the example's size. A call whose sizes lie outside the profile is refused (`EmberError`
    naming the profile) unless `allow_rebuild=True`, which serves any size the model allows. Ops Ember does not support, and those in `fallback_ops` (names such as
    "aten.relu" or "aten.relu.default", or `torch.ops.aten.relu`), run in PyTorch; regions of fewer
    than `min_block_size` compute ops stay in PyTorch too. `ember.explain` shows the plan, with
    the kernel that runs each op.

    `require_full_compilation=True` turns every fallback into a `FullCompilationError` naming the
    ops and why: an op that would run in PyTorch (for any of the reasons above), an engine node on
    a reference kernel (such as bf16 or fp16 tensors on the CPU) or on the host of a CUDA engine,
    and a backend this machine cannot run (`backend="cuda"` without a GPU). Without it these
    fall back, with a warning where a region fails to build.
    """
    check_options(backend, precision)
    if require_full_compilation:
        check_full_backend(backend)
    batch = check_dynamic_batch(dynamic_batch)
    args, kwargs = example_args(example_inputs)
    original = model.module() if isinstance(model, torch.export.ExportedProgram) else model
    program, args, kwargs = export(model, args, kwargs, batch, dynamic_shapes)
    options = {"fallback_ops": sorted(fallback_names(fallback_ops)), "min_block_size": min_block_size,
               "allow_rebuild": bool(allow_rebuild), "device": run_device(backend, model)}
    ranges = symbol_ranges(program)

    def engine_for(region, call, example):
        return build_engine(region, example, call, backend, precision, ranges)

    graph, plan = assemble(program, options, engine_for, torch.utils._pytree.tree_leaves((args, kwargs)),
                           require_full=require_full_compilation)
    return CompiledModule(original, program, graph, options, batch, plan)


def run_device(backend: str, model) -> str | None:
    """The GPU a `backend="cuda"` module runs on, where this machine runs CUDA engines: the one
    the model's weights are on, else the current one. None for every other backend (and without
    a GPU, where the model stays in PyTorch): the module then runs where its inputs are."""
    if backend != "cuda" or not torch.cuda.is_available() or _lib.backend_unavailable("cuda") is not None:
        return None
    if isinstance(model, torch.export.ExportedProgram):
        tensors = list(model.state_dict.values())
    else:
        tensors = list(model.state_dict().values()) if isinstance(model, torch.nn.Module) else []
    return str(next((t.device for t in tensors if isinstance(t, torch.Tensor) and t.is_cuda),
                    torch.device("cuda", torch.cuda.current_device())))


def check_full_backend(backend: str) -> None:
    """Refuses, for `require_full_compilation`, a backend whose engines are not fully compiled
    anywhere (the reference backend) or cannot run on this machine."""
    if backend == "reference":
        raise FullCompilationError("require_full_compilation=True: the reference backend runs every op on reference kernels")
    reason = _lib.backend_unavailable(backend)
    if reason is not None:
        raise FullCompilationError(f"require_full_compilation=True: backend '{backend}' cannot run here, so every op "
                                   f"would run in PyTorch: {reason}")


def refuse_fallbacks(problems: list[str]) -> None:
    """Raises `FullCompilationError` naming each of `problems` (an op that does not run on an
    optimized Ember kernel, and why); returns when there is none."""
    if problems:
        raise FullCompilationError("require_full_compilation=True, but these would not run on Ember's optimized "
                                   f"kernels ({len(problems)}):\n  " + "\n  ".join(problems))


def assemble(program: torch.export.ExportedProgram, options: dict, engine_for, flat_inputs: list | None = None,
             require_full: bool = False):
    """The program's graph with each region replaced by the engine `engine_for(region, call, example)`
    returns (None: the region stays in PyTorch). Example inputs are recorded only when
    `flat_inputs` is given. Returns the graph and its plan, with each engine's kernels.

    When a region fails to build and the error names the node that failed, that node alone moves to
    PyTorch and the graph is partitioned again, so the rest of the region still runs in Ember; the
    regions that built are not built again. With `require_full`, any op left in PyTorch, region
    that fails to build or engine node on a reference kernel raises `FullCompilationError`."""
    # Kept in the options, so that ember.load partitions the graph the same way.
    forced: dict[str, str] = options.setdefault("pytorch_nodes", {})
    built: dict[tuple, object] = {}

    def cached_engine_for(region, call, example):
        key = (tuple(n.name for n in region.graph.nodes), region.code)
        if key not in built:
            built[key] = engine_for(region, call, example)
        return built[key]

    while True:
        graph = flat_module(program)
        plan, partitions = partition(graph, options["fallback_ops"], options["min_block_size"], forced)
        if require_full:
            refuse_fallbacks(plan.fallbacks())
        if not partitions:
            return graph, plan
        graph = fuse_by_partitions(graph, [p.nodes for p in partitions], prefix="ember_engine_", always_return_tuple=True)
        failures = place_engines(graph, plan, cached_engine_for, flat_inputs)
        if require_full and failures:
            refuse_fallbacks([f"region {region} could not be built: {error}" for region, error in failures])
        culprits = {}
        for region, error in failures:
            node = failing_node(region, error)
            if node is not None and node not in forced:
                culprits[node] = f"Ember could not build it: {error}"
        if not culprits:
            for region, error in failures:
                warnings.warn(f"Ember leaves region {region} in PyTorch: {error}", stacklevel=3)
            attach_kernels(graph, plan)
            if require_full:
                unknown = [f"{r}: Ember cannot say which kernels it runs" for r in plan.regions if r not in plan.kernels]
                refuse_fallbacks(plan.fallbacks() + unknown)
            return graph, plan
        for node, reason in culprits.items():
            warnings.warn(f"Ember runs node '{node}' in PyTorch: {reason}", stacklevel=3)
        forced.update(culprits)


def attach_kernels(graph: GraphModule, plan: Plan) -> None:
    """Records in `plan` the kernels each engine of `graph` runs: those chosen for the example
    inputs when the engine was built here, else for its declared shapes."""
    engines = {name: m.engine for name, m in graph.named_children() if isinstance(m, EngineModule)}
    kernels = {}
    for name, engine in engines.items():
        try:
            kernels[name] = getattr(engine, "kernels", None) or engine.placements()
        except EmberError as error:  # the report is missing, the engine itself is fine
            warnings.warn(f"Ember cannot say which kernels {name} runs: {error}", stacklevel=4)
    plan.attach_kernels(kernels, next((engine.backend for engine in engines.values()), None))


def failing_node(region: str, error: EmberError) -> str | None:
    """The name of the node an engine build failed on, when the core's message names it
    (`node 'roll' (aten.roll.default): ...`)."""
    match = re.search(r"node '([^']+)'", str(error))
    return match.group(1) if match else None


def explain(model, example_inputs, *, backend: str = "auto", precision: str = "fp32", dynamic_batch=None,
            dynamic_shapes=None, fallback_ops=(), min_block_size: int = 1) -> Plan:
    """The plan `ember.compile` follows: per op, Ember or PyTorch and why, and for each engine
    the kernel that really runs each of its nodes on `backend`, reference kernels marked.

        print(ember.explain(model, (x,)))

    The kernels are only known once chosen, so the engines are built (and then let go); the
    warnings `ember.compile` gives are in the plan instead.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return compile(model, example_inputs, backend=backend, precision=precision, dynamic_batch=dynamic_batch,
                       dynamic_shapes=dynamic_shapes, fallback_ops=fallback_ops, min_block_size=min_block_size).plan


def check_options(backend, precision) -> None:
    """Refuses an unknown backend or precision before any work is done."""
    if not isinstance(backend, str) or not isinstance(precision, str):
        raise EmberError(f"backend and precision are strings, received {backend!r} and {precision!r}")
    _lib.check(_lib.lib().ember_check_options(backend.encode(), precision.encode()))


def example_args(example_inputs) -> tuple[tuple, dict]:
    """Positional and keyword example inputs from a tuple, a list, a single tensor or a dict."""
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    raise EmberError(f"example_inputs must be a tuple of inputs, a tensor or a dict, received {type(example_inputs).__name__}")


def flat_module(program: torch.export.ExportedProgram) -> GraphModule:
    """The program as a graph module taking and returning flat lists."""
    graph = program.module()
    for node in list(graph.graph.nodes):
        # The input guards check shapes against the export's; CompiledModule checks them itself.
        if node.op == "call_module" and node.target == "_guards_fn":
            graph.graph.erase_node(node)
    if hasattr(graph, "_guards_fn"):
        delattr(graph, "_guards_fn")
    # torch.export's hooks check the pytree structure of the inputs; this module takes them flat.
    graph._forward_pre_hooks.clear()
    graph._forward_hooks.clear()
    graph.graph._codegen = CodeGen()
    graph.recompile()
    return graph


def place_engines(graph: GraphModule, plan: Plan, engine_for, flat_inputs: list | None) -> list[tuple[str, EmberError]]:
    """Replaces each fused region by its engine. A region Ember cannot build stays in PyTorch;
    returns those regions with their errors."""
    calls = [n for n in graph.graph.nodes if n.op == "call_module" and n.target.startswith("ember_engine_")]
    for call in calls:
        inline_constants(graph, call)
    graph.recompile()
    examples = region_inputs(graph, calls, flat_inputs) if flat_inputs is not None else {}
    failures = []
    for call in calls:
        region = graph.get_submodule(call.target)
        try:
            engine = engine_for(region, call, examples.get(call.target))
            if engine is None:
                continue
        except EmberError as error:
            failures.append((call.target, error))
            for decision in plan.decisions:
                if decision.region == call.target:
                    decision.runs_on, decision.region = PYTORCH, None
                    decision.reason = f"Ember could not build its region: {error}"
            continue
        setattr(graph, call.target, EngineModule(engine))
    return failures


def inline_constants(graph: GraphModule, call: Node) -> None:
    """Moves the weights a region reads into the region, so the engine sees them as constants."""
    region = graph.get_submodule(call.target)
    placeholders = [n for n in region.graph.nodes if n.op == "placeholder"]
    kept = []
    for index, (arg, placeholder) in enumerate(zip(call.args, placeholders)):
        if not (isinstance(arg, Node) and arg.op == "get_attr"):
            kept.append(arg)
            continue
        value = operator.attrgetter(arg.target)(graph)
        name = f"_ember_constant_{index}"
        region.register_buffer(name, value.detach() if isinstance(value, torch.Tensor) else value)
        with region.graph.inserting_before(placeholder):
            constant = region.graph.get_attr(name)
        constant.meta = dict(placeholder.meta)
        placeholder.replace_all_uses_with(constant)
        region.graph.erase_node(placeholder)
    region.recompile()
    call.args = tuple(kept)
    graph.graph.eliminate_dead_code()


def region_inputs(graph: GraphModule, calls: list[Node], flat_inputs: list) -> dict[str, tuple]:
    """Each region's example inputs, recorded by running the graph once on the example inputs."""
    recorded: dict[str, tuple] = {}
    hooks = [graph.get_submodule(c.target).register_forward_pre_hook(
        lambda module, args, name=c.target: recorded.setdefault(name, args)) for c in calls]
    try:
        with torch.no_grad():
            graph(*flat_inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return recorded


def build_engine(region: GraphModule, example: tuple, call: Node, backend: str, precision: str,
                 ranges: dict[str, tuple[int, int]] | None = None) -> Engine:
    """Exports one region (keeping symbolic dims symbolic), saves it as .pt2 and compiles it, with
    a shape profile from `ranges` (the whole program's symbols and their ranges)."""
    ranges = ranges or {}
    dims: dict[str, torch.export.Dim] = {}
    shapes = tuple(symbolic_dims(arg, ranges, dims) for arg in call.args)
    try:
        with torch.no_grad():
            try:
                program = torch.export.export(region, example, dynamic_shapes=shapes)
            except Exception:
                if not dims:
                    raise
                # The region narrows a range the program's Dims allow: let torch.export find its own.
                shapes = tuple(symbolic_dims(arg, {}, {}) for arg in call.args)
                program = torch.export.export(region, example, dynamic_shapes=shapes)
    except Exception as error:
        raise EmberError(f"torch.export could not capture the region: {type(error).__name__}: {error}") from error
    profile = region_profile(program, call, example, ranges)
    with tempfile.TemporaryDirectory(prefix="ember-") as directory:
        path = Path(directory) / "region.pt2"
        torch.export.save(program, path)
        engine = Engine.compile(path, backend, precision, profiles=[profile] if profile else None)
    tensors = [x for x in example if isinstance(x, torch.Tensor)]
    with torch.no_grad():
        expected = region(*example)
    if len(engine.inputs) != len(tensors) or len(engine.outputs) != len(expected):
        raise EmberError(f"the engine has {len(engine.inputs)} inputs and {len(engine.outputs)} outputs; "
                         f"the region has {len(tensors)} and {len(expected)}")
    for spec, value in zip(engine.outputs, expected):
        if not isinstance(value, torch.Tensor) or value.dtype != spec.dtype:
            raise EmberError(f"engine output '{spec.name}' is {spec.dtype}; PyTorch computes {value!r:.60}")
    # One run on the examples, so a region the backend cannot run stays in PyTorch instead of
    # failing on the user's first call.
    try:
        produced = engine.run(tensors)
    except EmberError as error:
        raise EmberError(f"the engine failed on the example inputs: {error}") from error
    for spec, got, want in zip(engine.outputs, produced, expected):
        if got.shape != want.shape:
            raise EmberError(f"engine output '{spec.name}' has shape {tuple(got.shape)}; PyTorch computes {tuple(want.shape)}")
    # The kernels chosen for the examples' shapes, for the plan (attach_kernels says when the core
    # cannot tell).
    try:
        engine.kernels = engine.placements(tensors)
    except EmberError:
        engine.kernels = None
    return engine


def symbolic_dims(arg, ranges: dict[str, tuple[int, int]], dims: dict[str, torch.export.Dim]):
    """`dynamic_shapes` for one region input: its symbolic dims stay symbolic. A dim that is one of
    the program's symbols with a range gets a Dim of that range (one Dim per symbol, kept in
    `dims`), so the region's engine is exported for the sizes the program serves; others are AUTO."""
    value = arg.meta.get("val") if isinstance(arg, Node) else None
    if not isinstance(value, torch.Tensor):
        return None
    spec = {}
    for d, size in enumerate(value.shape):
        if isinstance(size, int):
            continue
        form = linear(size.node.expr)
        if form is not None and str(form[0]) in ranges:
            symbol, a, b = str(form[0]), form[1], form[2]
            low, high = ranges[symbol]
            base = dims.setdefault(symbol, torch.export.Dim(f"ember_{symbol}", min=low, max=high))
            # A size such as 4*s0 (Swin's windows of a batch) is a Dim derived from s0's, so the
            # region keeps the program's range instead of one torch.export guesses for it.
            spec[d] = base if (a, b) == (1, 0) else base * a + b if b else base * a
        else:
            spec[d] = torch.export.Dim.AUTO
    return spec or None


def linear(expr):
    """`(symbol, a, b)` when a sympy size is `a * symbol + b` with integers a >= 1 and b; else None."""
    free = list(getattr(expr, "free_symbols", ()))
    if len(free) != 1:
        return None
    symbol = free[0]
    a, b = expr.coeff(symbol), expr.subs(symbol, 0)
    if not (getattr(a, "is_Integer", False) and getattr(b, "is_Integer", False) and a >= 1):
        return None
    if (a * symbol + b - expr).expand() != 0:
        return None
    return symbol, int(a), int(b)


def region_profile(program: torch.export.ExportedProgram, call: Node, example: tuple,
                   ranges: dict[str, tuple[int, int]]) -> str | None:
    """The shape profile of a region's engine, in `Engine.compile`'s form: each symbol of the
    region's inputs that stands for one of the program's symbols with a range gets that range
    (within what torch.export recorded for the region), OPT the example's size. None when no
    symbol has one."""
    users = list(program.graph_signature.user_inputs)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    region_values = [placeholders[name].meta.get("val") for name in users if name in placeholders]
    outer = [arg.meta.get("val") if isinstance(arg, Node) else None for arg in call.args]
    limits = {str(symbol): bounds for symbol, bounds in program.range_constraints.items()}
    found: dict[str, tuple[int, int, int]] = {}
    # The engine's dims are the region's sizes as written: a symbol that appears only inside a
    # derived size (4*s3) is not one of them, so that size gets the profile, scaled.
    bare = {str(size.node.expr) for value in region_values if isinstance(value, torch.Tensor)
            for size in value.shape if not isinstance(size, int) and size.node.expr.is_Symbol}
    for inner, value, sample in zip(region_values, outer, example):
        if not (isinstance(inner, torch.Tensor) and isinstance(value, torch.Tensor) and isinstance(sample, torch.Tensor)):
            continue
        for size, program_size, example_size in zip(inner.shape, value.shape, sample.shape):
            if isinstance(size, int) or isinstance(program_size, int):
                continue
            # Both sizes as a * symbol + b: the region's symbol stands for the program's when
            # they are the same function of it (s0 and s0, or 4*s3 and 4*s0).
            inner_form, outer_form = linear(size.node.expr), linear(program_size.node.expr)
            if inner_form is None or outer_form is None or inner_form[1:] != outer_form[1:]:
                continue
            symbol, a, b = str(outer_form[0]), outer_form[1], outer_form[2]
            if symbol not in ranges:
                continue
            low, high = ranges[symbol]
            name = str(inner_form[0])
            # The region's own range may be narrower than the program's; not so for a derived
            # size, whose root torch.export starts at 2 whatever the program allows.
            if name in limits and (a, b) == (1, 0):
                low, high = clip(low, high, limits[name])
            opt = (int(example_size) - b) // a
            if not low <= opt <= high:
                continue
            if name in bare:
                found[name] = (low, opt, high)
            else:
                found.setdefault(str(size.node.expr), (a * low + b, int(example_size), a * high + b))
    return ",".join(f"{name}={lo}:{opt}:{hi}" for name, (lo, opt, hi) in sorted(found.items())) or None


def clip(low: int, high: int, bounds) -> tuple[int, int]:
    """`low..high` within torch.export's `ValueRanges` `bounds`, whose ends may be infinite."""
    try:
        low = max(low, int(bounds.lower))
    except Exception:  # noqa: BLE001 (-int_oo: no lower bound)
        pass
    try:
        high = min(high, int(bounds.upper))
    except Exception:  # noqa: BLE001 (int_oo: no upper bound)
        pass
    return low, high
