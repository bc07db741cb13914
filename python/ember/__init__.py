"""Ember from Python: compile PyTorch models into Ember engines.

    import ember
    compiled = ember.compile(model, (x,))       # a torch.nn.Module, called like `model`
    print(ember.explain(model, (x,)))           # per op: Ember or PyTorch, why, and the kernel
    ember.save(compiled, "model.ember"); compiled = ember.load("model.ember")
    fast = torch.compile(model, backend="ember")
"""
from ._compile import compile, explain
from ._dynamo import register as _register_dynamo_backend
from ._engine import Engine, KernelPlacement, TensorSpec
from ._lib import EmberError, FullCompilationError
from ._module import CompiledModule
from ._plan import Decision, Plan
from ._save import load, save

__version__ = "0.1.0"
__all__ = ["compile", "explain", "save", "load", "EmberError", "FullCompilationError", "Engine", "TensorSpec",
           "CompiledModule", "Plan", "Decision", "KernelPlacement"]

_register_dynamo_backend()
