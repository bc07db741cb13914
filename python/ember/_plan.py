"""Which ops of an exported graph run in Ember and which stay in PyTorch, and why.

An op runs in Ember when the .pt2 importer converts it (the core says so through
`ember_torch_op_supported`), the user did not list it in `fallback_ops`, and its tensors have dtypes
Ember knows. Contiguous runs of such ops become regions, each built into one engine; a region
with fewer than `min_block_size` compute ops stays in PyTorch, where crossing the boundary would
cost more than it saves.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch.fx import GraphModule, Node
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner, Partition
from torch.fx.passes.operator_support import OperatorSupportBase

from . import _lib
from ._engine import DTYPE_CODES, KernelPlacement
from ._lib import EmberError

EMBER = "ember"
PYTORCH = "pytorch"

#: Ops that compute nothing themselves: they do not count toward `min_block_size`.
_BOOKKEEPING = ("_operator.", "aten.sym_", "aten._assert", "torch.sym_")


@dataclass
class Decision:
    """Where one op runs: `ember` or `pytorch`, why, and the region (engine) it belongs to. For an
    op in Ember, `kernel` is the implementation that runs it (None where the engine folded the op
    into another node's kernel) and `reference` whether it runs somewhere slow: a reference kernel,
    or the host of a CUDA engine."""
    node: str
    op: str
    runs_on: str
    reason: str
    region: str | None = None
    kernel: str | None = None
    reference: bool = False

    @property
    def computes(self) -> bool:
        """False for bookkeeping (`getitem`, size arithmetic), which computes nothing itself."""
        return not self.op.startswith(_BOOKKEEPING)


@dataclass
class Plan:
    """The partition of a model: one decision per op, in graph order.

        print(ember.explain(model, (x,)))
    """
    decisions: list[Decision] = field(default_factory=list)
    #: Each engine's nodes (as the engine names them, after fusion) with the kernels that run them.
    kernels: dict[str, list[KernelPlacement]] = field(default_factory=dict)
    #: The backend the engines run on, once built.
    backend: str | None = None

    def __setstate__(self, state):
        # Plans saved before kernels were reported have neither field.
        self.__dict__.update({"kernels": {}, "backend": None, **state})

    @property
    def regions(self) -> list[str]:
        """The regions built into engines, in graph order."""
        return list(dict.fromkeys(d.region for d in self.decisions if d.region))

    def ops(self, runs_on: str) -> list[Decision]:
        return [d for d in self.decisions if d.runs_on == runs_on]

    @property
    def slow_kernels(self) -> list[tuple[str, KernelPlacement]]:
        """The engine nodes that run somewhere slow (a reference kernel, the host of a CUDA
        engine), with their regions."""
        return [(region, k) for region, kernels in self.kernels.items() for k in kernels if k.fallback]

    def fallbacks(self) -> list[str]:
        """Every op that does not run on an optimized Ember kernel, in words: the compute ops in
        PyTorch and the engine nodes on reference kernels or the host."""
        found = [f"'{d.node}' ({d.op}) runs in PyTorch: {d.reason}" for d in self.ops(PYTORCH) if d.computes]
        found += [f"'{k.node}' ({k.op}, in {region}) {k.fallback}" for region, k in self.slow_kernels]
        return found

    def __str__(self) -> str:
        ember, pytorch = self.ops(EMBER), self.ops(PYTORCH)
        lines = [f"{len(self.decisions)} ops: {len(ember)} in Ember ({len(self.regions)} engines), {len(pytorch)} in PyTorch"]
        if self.kernels:
            slow = [k for _, k in self.slow_kernels]
            lines[0] += f"; {sum(k.reference for k in slow)} engine nodes on reference kernels"
            if any(k.host for k in slow):
                lines[0] += f", {sum(k.host for k in slow)} on the host"
        width = max((len(d.node) for d in self.decisions), default=4)
        op_width = max((len(d.op) for d in self.decisions), default=2)
        where = [(f"ember ({d.region})" if d.region else d.runs_on) + (f" [{d.kernel}]" if d.kernel else "")
                 for d in self.decisions]
        where_width = max(map(len, where), default=7)
        for d, runs_on in zip(self.decisions, where):
            lines.append(f"  {d.node:<{width}}  {d.op:<{op_width}}  {runs_on:<{where_width}}  {d.reason}")
        for region, kernels in self.kernels.items():
            lines.append(f"{region} ({self.backend} backend), {len(kernels)} nodes after fusion:")
            width = max((len(k.node) for k in kernels), default=4)
            op_width = max((len(k.op) for k in kernels), default=2)
            for k in kernels:
                line = f"  {k.node:<{width}}  {k.op:<{op_width}}  {k.provider} [{k.implementation or '?'}]"
                lines.append(line + ("  REFERENCE KERNEL" if k.reference else "") + ("  ON THE HOST" if k.host else ""))
        return "\n".join(lines)

    def attach_kernels(self, kernels: dict[str, list[KernelPlacement]], backend: str | None) -> None:
        """Records each engine's kernels, and on each op in Ember the kernel that runs it; an op on
        a reference kernel says so in its reason."""
        self.kernels, self.backend = dict(kernels), backend
        for d in self.decisions:
            placements = self.kernels.get(d.region) if d.runs_on == EMBER else None
            if placements is None:
                continue
            d.reason, d.kernel, d.reference = "supported", None, False
            own = next((k for k in placements if k.node == d.node), None)
            if own is not None:
                d.kernel, d.reference = own.implementation, bool(own.fallback)
                if own.fallback:
                    d.reason = f"supported, but {own.fallback}"
            elif d.computes:
                references, hosted = sum(k.reference for k in placements), sum(k.host for k in placements)
                if references or hosted:
                    where = ([f"{references} nodes on reference kernels"] if references else []) + \
                        ([f"{hosted} nodes on the host"] if hosted else [])
                    d.reason = f"supported, folded into other nodes of {d.region}, which runs {' and '.join(where)}"


def op_name(target) -> str:
    """The name the .pt2 archive records for a call target: `aten.add.Tensor`, `_operator.getitem`."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", None) or str(target)
    return f"{module}.{name}" if module else name


def fallback_names(fallback_ops) -> set[str]:
    """The user's `fallback_ops` as names: overloads (`aten.add.Tensor`) or whole ops (`aten.add`)."""
    if isinstance(fallback_ops, (str, torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        fallback_ops = [fallback_ops]
    names = set()
    for op in fallback_ops:
        if isinstance(op, torch._ops.OpOverload):
            names.add(str(op))
        elif isinstance(op, torch._ops.OpOverloadPacket):
            names.add(f"{op._qualified_op_name.replace('::', '.')}")
        elif isinstance(op, str) and op:
            names.add(op.removeprefix("torch.ops.").replace("::", "."))
        else:
            raise EmberError(f"fallback_ops takes op names ('aten.relu') or torch.ops objects, received {op!r}")
    return names


def _values(node: Node) -> list:
    value = node.meta.get("val")
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _is_tensor(node) -> bool:
    return isinstance(node, Node) and any(isinstance(v, torch.Tensor) for v in _values(node))


def _dtype_problem(node: Node) -> str | None:
    for other in [node, *node.all_input_nodes]:
        for value in _values(other):
            if isinstance(value, torch.Tensor) and value.dtype not in DTYPE_CODES:
                return f"uses {str(value.dtype).removeprefix('torch.')} tensors, which Ember has no dtype for"
    return None


def _first_reason(node: Node, supported: dict[Node, str | None], fallback: set[str]) -> str | None:
    """Why `node` cannot run in Ember, or None when it can."""
    name = op_name(node.target)
    if name in fallback or name.rsplit(".", 1)[0] in fallback:
        return "listed in fallback_ops"
    if not _lib.torch_op_supported(name):
        return f"Ember's .pt2 importer has no converter for {name}"
    if node.target is operator.getitem:
        source = node.args[0]
        if isinstance(source, Node) and supported.get(source) is not None:
            return "takes apart the result of an op that runs in PyTorch"
    return _dtype_problem(node)


def _unsupported(gm: GraphModule, fallback: set[str], forced: dict[str, str]) -> dict[Node, str | None]:
    """For each call, the reason it stays in PyTorch (None: it can run in Ember). `forced` names
    nodes that stay in PyTorch whatever the importer says, with the reason."""
    reasons: dict[Node, str | None] = {}
    for node in gm.graph.nodes:
        if node.op == "call_function":
            reasons[node] = forced.get(node.name) or _first_reason(node, reasons, fallback)
    # Sizes (Python ints) cannot cross between an engine and PyTorch: an op making or using one
    # stays on the side of the op it shares the size with.
    changed = True
    while changed:
        changed = False
        for node, reason in reasons.items():
            if reason is not None or _is_tensor(node):
                continue
            crossing = [n for n in [*node.users, *node.all_input_nodes] if reasons.get(n) is not None]
            if crossing:
                reasons[node] = f"shares a size with {crossing[0].name}, which runs in PyTorch"
                changed = True
    return reasons


class _Support(OperatorSupportBase):
    def __init__(self, reasons: dict[Node, str | None]):
        self.reasons = reasons

    def is_node_supported(self, submodules, node: Node) -> bool:
        return node in self.reasons and self.reasons[node] is None


def partition(gm: GraphModule, fallback_ops, min_block_size: int,
              forced: dict[str, str] | None = None) -> tuple[Plan, list[Partition]]:
    """The plan for `gm` and the partitions to build into engines; the nodes `forced` names (with
    the reason) stay in PyTorch."""
    if not isinstance(min_block_size, int) or isinstance(min_block_size, bool) or min_block_size < 1:
        raise EmberError(f"min_block_size must be a positive int, received {min_block_size!r}")
    reasons = _unsupported(gm, fallback_names(fallback_ops), forced or {})
    partitioner = CapabilityBasedPartitioner(gm, _Support(reasons), allows_single_node_partition=True)
    kept, region_of = [], {}
    order = {node: i for i, node in enumerate(gm.graph.nodes)}
    for part in sorted(partitioner.propose_partitions(), key=lambda p: min(order[n] for n in p.nodes)):
        compute = [n for n in part.nodes if not op_name(n.target).startswith(_BOOKKEEPING)]
        if len(compute) < min_block_size:
            why = (f"in a region of {len(compute)} compute ops, fewer than min_block_size={min_block_size}"
                   if compute else "in a region with nothing to compute")
            for node in part.nodes:
                reasons[node] = why
            continue
        name = f"ember_engine_{len(kept)}"
        kept.append(part)
        region_of.update({node: name for node in part.nodes})
    plan = Plan([Decision(node.name, op_name(node.target), PYTORCH if reasons[node] else EMBER,
                          reasons[node] or "supported", region_of.get(node))
                 for node in gm.graph.nodes if node in reasons])
    return plan, kept

