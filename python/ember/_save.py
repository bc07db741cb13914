"""`ember.save` and `ember.load`: a compiled module, engines and PyTorch parts, in one file.

The file is a `torch.save` archive holding the exported program (as `torch.export.save` writes
it), the partition options, each region's engine (engine-file bytes), the plan, and the original
module when it can be saved (TorchScript with `torch.jit.save`, others by pickling), which train()
mode runs. Loading partitions the program again, the same way, and puts the saved engines in place
of the regions; nothing is recompiled. Like any pickle, load only files you trust.
"""
from __future__ import annotations

import io
import os
import stat
import tempfile

import torch

from ._compile import assemble, attach_kernels
from ._engine import Engine
from ._lib import EmberError, version
from ._module import CompiledModule

FORMAT = "ember.compiled-module"
FORMAT_VERSION = 1


def save(compiled: CompiledModule, path: str | os.PathLike) -> None:
    """Writes `compiled` to `path` (replacing it atomically); `ember.load` reads it in any process.

        ember.save(compiled, "model.ember")
    """
    if not isinstance(compiled, CompiledModule):
        raise EmberError(f"ember.save takes what ember.compile returned, received {type(compiled).__name__}")
    state = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "ember_version": version(),
        "program": _program_bytes(compiled.program), "options": compiled.options,
        "engines": {name: engine.to_bytes() for name, engine in compiled.engines_by_region().items()},
        "batch": compiled.batch, "plan": compiled.plan, "original": _pack(compiled.original),
    }
    path = os.fspath(path)
    mode = _replaceable_mode(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".ember-", dir=directory)
    try:
        # mkstemp makes the file 0600: give it the replaced file's bits, or a new file's.
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as file:
            torch.save(state, file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _replaceable_mode(path: str) -> int:
    """The permission bits the saved file gets: those of the regular file it replaces, else the
    umask's default. Anything but a regular file (a directory, a device, a FIFO) is refused."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
    if stat.S_ISDIR(info.st_mode):
        raise EmberError(f"'{path}' is a directory; name the file to save to")
    if not stat.S_ISREG(info.st_mode):
        raise EmberError(f"'{path}' is not a regular file; ember.save writes only new or regular files")
    return stat.S_IMODE(info.st_mode)


def load(path: str | os.PathLike) -> CompiledModule:
    """Reads a module `ember.save` wrote; it runs in eval() mode, like the module that was saved.

        compiled = ember.load("model.ember")
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EmberError(f"cannot load '{path}': no such file")
    try:
        state = torch.load(path, weights_only=False)
    except EmberError:
        raise
    except Exception as error:
        raise EmberError(f"'{path}' is not a module saved by ember.save: {type(error).__name__}: {error}") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise EmberError(f"'{path}' is not a module saved by ember.save")
    if state.get("format_version") != FORMAT_VERSION:
        raise EmberError(f"'{path}' has format version {state.get('format_version')}; "
                         f"this Ember reads version {FORMAT_VERSION}")
    try:
        program = torch.export.load(io.BytesIO(state["program"]))
        engines = {name: Engine.from_bytes(data) for name, data in state["engines"].items()}
        graph, _ = assemble(program, state["options"], lambda region, call, example: engines.get(call.target))
    except EmberError as error:
        raise EmberError(f"'{path}': {error}") from error
    except Exception as error:
        raise EmberError(f"'{path}' holds a damaged program: {type(error).__name__}: {error}") from error
    original, missing = _unpack(state["original"])
    plan = state["plan"]
    attach_kernels(graph, plan)  # as this machine runs them
    compiled = CompiledModule(original, program, graph, state["options"], state["batch"], plan)
    if missing:
        compiled.missing_original = missing
    return compiled


def _program_bytes(program: torch.export.ExportedProgram) -> bytes:
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def _pack(original) -> tuple[str, bytes] | None:
    if original is None:
        return None
    buffer = io.BytesIO()
    try:
        if isinstance(original, torch.jit.ScriptModule):
            torch.jit.save(original, buffer)
            return "torchscript", buffer.getvalue()
        torch.save(original, buffer)
        return "pickle", buffer.getvalue()
    except Exception:
        return None


def _unpack(packed) -> tuple[torch.nn.Module | None, str | None]:
    if packed is None:
        return None, "the original module could not be saved"
    kind, data = packed
    try:
        if kind == "torchscript":
            return torch.jit.load(io.BytesIO(data)), None
        return torch.load(io.BytesIO(data), weights_only=False), None
    except Exception as error:
        return None, f"the original module could not be loaded ({type(error).__name__}: {error})"
