"""The C API of libEmberC (include/ember.h) through ctypes: the only place that touches raw pointers."""
from __future__ import annotations

import ctypes
import functools
import os
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_int, c_int32, c_int64, c_size_t, c_void_p
from pathlib import Path


class EmberError(RuntimeError):
    """An error from Ember: the core's own message (naming the node, the op and what was expected),
    or a check the Python package makes before calling the core."""


class FullCompilationError(EmberError):
    """`require_full_compilation=True` refused a model: some op would run in PyTorch or on a
    reference kernel, or the backend cannot run here. The message names each op and why."""


class Tensor(ctypes.Structure):
    """`ember_tensor`: a tensor in caller-owned memory."""
    _fields_ = [("name", c_char_p), ("dtype", c_int32), ("rank", c_int32), ("dims", POINTER(c_int64)),
                ("data", c_void_p), ("byte_size", c_size_t)]


class TensorInfo(ctypes.Structure):
    """`ember_tensor_info`: an input or output as the engine declares it."""
    _fields_ = [("name", c_char_p), ("dtype", c_int32), ("rank", c_int32), ("dims", POINTER(c_int64)),
                ("dim_names", POINTER(c_char_p))]


#: `ember_output_allocator`: returns the buffer for one output once its shape is known.
Allocator = CFUNCTYPE(c_void_p, c_void_p, c_int32, c_char_p, c_int32, c_int32, POINTER(c_int64), c_size_t)

_SIGNATURES = {
    "ember_version": ([], c_char_p),
    "ember_last_error": ([], c_char_p),
    "ember_engine_load": ([c_char_p], c_void_p),
    "ember_engine_compile": ([c_char_p, c_char_p, c_char_p], c_void_p),
    "ember_engine_compile_profiled": ([c_char_p, c_char_p, c_char_p, c_char_p], c_void_p),
    "ember_engine_profiles": ([c_void_p], c_char_p),
    "ember_engine_set_allow_rebuild": ([c_void_p, c_int], c_int),
    "ember_check_options": ([c_char_p, c_char_p], c_int),
    "ember_engine_save": ([c_void_p, c_char_p], c_int),
    "ember_engine_free": ([c_void_p], None),
    "ember_engine_backend": ([c_void_p], c_char_p),
    "ember_engine_input_count": ([c_void_p], c_int32),
    "ember_engine_output_count": ([c_void_p], c_int32),
    "ember_engine_input_info": ([c_void_p, c_int32, POINTER(TensorInfo)], c_int),
    "ember_engine_output_info": ([c_void_p, c_int32, POINTER(TensorInfo)], c_int),
    "ember_engine_run_allocating": ([c_void_p, POINTER(Tensor), c_int32, Allocator, c_void_p], c_int),
    "ember_engine_run_device": ([c_void_p, POINTER(Tensor), c_int32, Allocator, c_void_p, c_void_p], c_int),
    "ember_torch_op_supported": ([c_char_p], c_int),
    "ember_backend_available": ([c_char_p], c_int),
    "ember_engine_placements": ([c_void_p, POINTER(Tensor), c_int32], c_char_p),
}


def library_path() -> Path:
    """Where libEmberC is: `$EMBER_LIBRARY` when set, else the copy installed inside this package."""
    override = os.environ.get("EMBER_LIBRARY")
    return Path(override) if override else Path(__file__).resolve().parent / "lib" / "libEmberC.so"


@functools.cache
def lib() -> ctypes.CDLL:
    """The loaded library, with every function's argument and result types declared."""
    path = library_path()
    if not path.exists():
        raise EmberError(f"libEmberC is missing at {path}: reinstall with `pip install ./python` "
                         "or set EMBER_LIBRARY to a built libEmberC.so")
    library = ctypes.CDLL(str(path))
    for name, (arguments, result) in _SIGNATURES.items():
        function = getattr(library, name)
        function.argtypes = arguments
        function.restype = result
    return library


def last_error() -> str:
    message = lib().ember_last_error()
    return message.decode() if message else "unknown error"


def check(status: int) -> None:
    """Raises the core's last error when a call returned non-zero."""
    if status != 0:
        raise EmberError(last_error())


def torch_op_supported(target: str) -> bool:
    """Whether the .pt2 importer converts the ATen op `target` (`aten.add.Tensor`)."""
    return bool(lib().ember_torch_op_supported(target.encode()))


def backend_unavailable(backend: str) -> str | None:
    """Why this machine cannot run engines for `backend` ("cuda": no GPU or driver); None when it can."""
    return None if lib().ember_backend_available(backend.encode()) else last_error()


def version() -> str:
    return lib().ember_version().decode()
