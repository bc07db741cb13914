"""`torch.compile(model, backend="ember")`: each graph dynamo captures is compiled by `ember.compile`,
once per set of input shapes, on its first call with real inputs. It is for inference: the engines
compute no gradients, whatever the mode of the model."""
from __future__ import annotations

import torch

from ._compile import compile


def ember_backend(graph: torch.fx.GraphModule, example_inputs):
    """The dynamo backend: returns a function running `graph` through Ember engines."""
    compiled_by_shapes = {}

    @torch._dynamo.disable
    def run(*args):
        key = tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else (type(a), a) for a in args)
        compiled = compiled_by_shapes.get(key)
        if compiled is None:
            compiled = compiled_by_shapes[key] = compile(graph, tuple(args))
        return compiled(*args)

    return run


def register() -> None:
    """Registers the backend under the name "ember" (once)."""
    from torch._dynamo.backends.registry import _BACKENDS, register_backend
    if "ember" not in _BACKENDS:
        register_backend(ember_backend, name="ember")
