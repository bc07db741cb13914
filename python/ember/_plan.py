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
from ._engine import DTYPE_CODES
from ._lib import EmberError

EMBER = "ember"
PYTORCH = "pytorch"

#: Ops that compute nothing themselves: they do not count toward `min_block_size`.
_BOOKKEEPING = ("_operator.", "aten.sym_", "aten._assert", "torch.sym_")


@dataclass
class Decision:
    """Where one op runs: `ember` or `pytorch`, why, and the region (engine) it belongs to."""
    node: str
    op: str
    runs_on: str
    reason: str
    region: str | None = None


@dataclass
class Plan:
    """The partition of a model: one decision per op, in graph order.

        print(ember.explain(model, (x,)))
    """
    decisions: list[Decision] = field(default_factory=list)

    @property
    def regions(self) -> list[str]:
        """The regions built into engines, in graph order."""
        return list(dict.fromkeys(d.region for d in self.decisions if d.region))

    def ops(self, runs_on: str) -> list[Decision]:
        return [d for d in self.decisions if d.runs_on == runs_on]

    def __str__(self) -> str:
        ember, pytorch = self.ops(EMBER), self.ops(PYTORCH)
        lines = [f"{len(self.decisions)} ops: {len(ember)} in Ember ({len(self.regions)} engines), {len(pytorch)} in PyTorch"]
        width = max((len(d.node) for d in self.decisions), default=4)
        op_width = max((len(d.op) for d in self.decisions), default=2)
        where = [f"ember ({d.region})" if d.region else d.runs_on for d in self.decisions]
        where_width = max(map(len, where), default=7)
        for d, runs_on in zip(self.decisions, where):
            lines.append(f"  {d.node:<{width}}  {d.op:<{op_width}}  {runs_on:<{where_width}}  {d.reason}")
        return "\n".join(lines)


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

