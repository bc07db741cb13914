"""An Ember engine seen from Python: compiled from a model file or loaded, run on torch tensors.

Tensors cross without copies on this side: a contiguous CPU tensor's data pointer goes straight into
the C API, and each output is a tensor that torch allocates with the shape the engine computed for
these inputs, which the engine then fills.
"""
from __future__ import annotations

import ctypes
import json
import os
import tempfile
from dataclasses import dataclass

import torch

from . import _lib
from ._lib import EmberError

#: torch dtypes by the C API's codes (ONNX's TensorProto.DataType values).
TORCH_DTYPES = {1: torch.float32, 2: torch.uint8, 3: torch.int8, 4: torch.uint16, 5: torch.int16, 6: torch.int32,
                7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64, 12: torch.uint32,
                13: torch.uint64, 16: torch.bfloat16}
DTYPE_CODES = {dtype: code for code, dtype in TORCH_DTYPES.items()}


@dataclass(frozen=True)
class TensorSpec:
    """An engine input or output: its name, dtype and shape (a str for a symbolic dim)."""
    name: str
    dtype: torch.dtype
    shape: tuple[int | str, ...]


@dataclass(frozen=True)
class KernelPlacement:
    """Where one node of an engine runs, as the core reports it (`ember inspect` shows the same).

    `provider` is "onednn", "ember" or "reference" on the CPU backend, "cuda", "view" or "host" on
    the CUDA backend; `implementation` is the kernel itself ("brg:avx512_core", "ember:add",
    "ref:any", "cudnn"), None where the core cannot tell. `reference` marks a reference loop
    (correct, but tens to thousands of times slower), `host` a node a CUDA engine runs on the CPU;
    `declined` says why each faster provider did not take the node."""
    node: str
    op: str
    provider: str
    implementation: str | None
    reference: bool
    host: bool
    declined: tuple[str, ...] = ()

    @property
    def fallback(self) -> str | None:
        """Why the node runs somewhere slow; None when it runs on an optimized kernel."""
        if self.host:
            why = "runs on the host, not the GPU"
        elif self.reference:
            why = "runs a reference kernel" + (f" ({self.implementation})" if self.implementation else "")
        else:
            return None
        return why + (": " + "; ".join(self.declined) if self.declined else "")


class Engine:
    """An immutable compiled model, safe to run from many threads.

        engine = Engine.compile("model.pt2")
        (y,) = engine.run([x])
    """

    def __init__(self, handle: int):
        self._handle = handle
        library = _lib.lib()
        self.inputs = [self._describe(library.ember_engine_input_info, i)
                       for i in range(library.ember_engine_input_count(handle))]
        self.outputs = [self._describe(library.ember_engine_output_info, i)
                        for i in range(library.ember_engine_output_count(handle))]
        self._input_names = [spec.name.encode() for spec in self.inputs]

    @classmethod
    def compile(cls, model_path: str | os.PathLike, backend: str = "auto", precision: str = "fp32",
                profiles: list[str] | None = None) -> Engine:
        """Optimizes a model file (.pt2, .onnx or Ember text IR) and builds an engine for `backend`.

        `profiles` are shape profiles, each `NAME=MIN:OPT:MAX` ranges of the model's symbolic dims
        joined by commas (`"s0=1:8:16,s1=16:128:512"`); a run whose sizes fit none is refused
        unless `allow_rebuild` is set."""
        text = ";".join(profiles or [])
        handle = _lib.lib().ember_engine_compile_profiled(os.fsencode(model_path), backend.encode(), precision.encode(),
                                                          text.encode())
        if not handle:
            raise EmberError(_lib.last_error())
        return cls(handle)

    @property
    def profiles(self) -> list[str]:
        """The engine's shape profiles, as `Engine.compile` takes them; empty: any shape runs."""
        text = _lib.lib().ember_engine_profiles(self._handle).decode()
        return text.split(";") if text else []

    @property
    def allow_rebuild(self) -> bool:
        """Whether runs with shapes outside every profile are served (planned on first use)
        instead of refused. False unless set; not saved with the engine."""
        return getattr(self, "_allow_rebuild", False)

    @allow_rebuild.setter
    def allow_rebuild(self, allow: bool) -> None:
        _lib.check(_lib.lib().ember_engine_set_allow_rebuild(self._handle, 1 if allow else 0))
        self._allow_rebuild = bool(allow)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Engine:
        """Loads and checks an engine file."""
        handle = _lib.lib().ember_engine_load(os.fsencode(path))
        if not handle:
            raise EmberError(_lib.last_error())
        return cls(handle)

    @classmethod
    def from_bytes(cls, data: bytes) -> Engine:
        """An engine from the bytes `to_bytes` returned."""
        with tempfile.TemporaryDirectory(prefix="ember-") as directory:
            path = os.path.join(directory, "model.engine")
            with open(path, "wb") as file:
                file.write(data)
            return cls.load(path)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the engine file (replacing `path` atomically)."""
        _lib.check(_lib.lib().ember_engine_save(self._handle, os.fsencode(path)))

    def to_bytes(self) -> bytes:
        """The engine file's bytes."""
        with tempfile.TemporaryDirectory(prefix="ember-") as directory:
            path = os.path.join(directory, "model.engine")
            self.save(path)
            with open(path, "rb") as file:
                return file.read()

    @property
    def backend(self) -> str:
        """The backend the engine runs on."""
        return _lib.lib().ember_engine_backend(self._handle).decode()

    def placements(self, tensors: list[torch.Tensor] | None = None) -> list[KernelPlacement]:
        """Where each node of the engine runs, with the kernels chosen for the shapes of `tensors`
        (the engine's inputs, in order; only their shapes are read). Without them, each input
        takes its declared shape, symbolic dims as 1."""
        tensors = list(tensors or [])
        feeds = (_lib.Tensor * max(len(tensors), 1))()
        alive = []
        for i, (spec, tensor) in enumerate(zip(self.inputs, tensors)):
            dims = (ctypes.c_int64 * max(tensor.dim(), 1))(*tensor.shape)
            alive.append(dims)
            feeds[i] = _lib.Tensor(self._input_names[i], DTYPE_CODES.get(tensor.dtype, 1), tensor.dim(), dims, None, 0)
        report = _lib.lib().ember_engine_placements(self._handle, feeds, min(len(tensors), len(self.inputs)))
        if not report:
            raise EmberError(_lib.last_error())
        return [KernelPlacement(n["node"], n["op"], n["provider"], n.get("implementation"), n["reference"], n["host"],
                                tuple(n["declined"])) for n in json.loads(report)["nodes"]]

    def run(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Runs the engine on tensors given in the engine's input order; returns its outputs.

        A CUDA engine takes CUDA tensors too: they are read on the GPU, the outputs are CUDA
        tensors, and the work runs on PyTorch's current stream."""
        if len(tensors) != len(self.inputs):
            names = ", ".join(spec.name for spec in self.inputs)
            raise EmberError(f"the engine takes {len(self.inputs)} inputs ({names}), received {len(tensors)}")
        on_device = self.backend == "cuda" and any(isinstance(t, torch.Tensor) and t.is_cuda for t in tensors)
        device = next((t.device for t in tensors if isinstance(t, torch.Tensor) and t.is_cuda), None)
        feeds = (_lib.Tensor * max(len(tensors), 1))()
        alive = []  # keeps contiguous copies and dims arrays alive during the call
        for i, (spec, tensor) in enumerate(zip(self.inputs, tensors)):
            if not isinstance(tensor, torch.Tensor):
                raise EmberError(f"input '{spec.name}' must be a torch.Tensor, received {type(tensor).__name__}")
            if on_device and tensor.device != device:
                raise EmberError(f"input '{spec.name}' is on {tensor.device}; the other inputs are on {device}")
            if not on_device and tensor.device.type != "cpu":
                raise EmberError(f"input '{spec.name}' is on {tensor.device}; a {self.backend} engine takes CPU tensors")
            code = DTYPE_CODES.get(tensor.dtype)
            if code is None:
                raise EmberError(f"input '{spec.name}' has dtype {tensor.dtype}, which Ember has no type for")
            tensor = tensor.detach()
            if not tensor.is_contiguous():
                tensor = tensor.contiguous()
            dims = (ctypes.c_int64 * max(tensor.dim(), 1))(*tensor.shape)
            alive += [tensor, dims]
            feeds[i] = _lib.Tensor(self._input_names[i], code, tensor.dim(), dims,
                                   tensor.data_ptr() or None, tensor.numel() * tensor.element_size())
        outputs: list[torch.Tensor | None] = [None] * len(self.outputs)
        failures: list[BaseException] = []

        def allocate(_context, index, _name, dtype, rank, dims, byte_size):
            try:
                output = torch.empty([dims[d] for d in range(rank)], dtype=TORCH_DTYPES[dtype],
                                     device=device if on_device else "cpu")
                outputs[index] = output
                return output.data_ptr() if byte_size else None
            except BaseException as error:  # an exception must not unwind through C
                failures.append(error)
                return None

        if on_device:
            stream = torch.cuda.current_stream(device).cuda_stream
            status = _lib.lib().ember_engine_run_device(self._handle, feeds, len(tensors), _lib.Allocator(allocate),
                                                        None, stream or None)
        else:
            status = _lib.lib().ember_engine_run_allocating(self._handle, feeds, len(tensors),
                                                            _lib.Allocator(allocate), None)
        if failures:
            raise failures[0]
        _lib.check(status)
        return outputs

    def _describe(self, function, index: int) -> TensorSpec:
        info = _lib.TensorInfo()
        _lib.check(function(self._handle, index, ctypes.byref(info)))
        shape = tuple(info.dim_names[d].decode() if info.dims[d] < 0 else info.dims[d] for d in range(info.rank))
        return TensorSpec(info.name.decode(), TORCH_DTYPES.get(info.dtype, torch.float32), shape)

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle and _lib is not None:  # module globals may already be gone at interpreter exit
            _lib.lib().ember_engine_free(handle)

    def __reduce__(self):
        return (Engine.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        def show(specs):
            return ", ".join(f"{s.name}: {str(s.dtype).removeprefix('torch.')}[{', '.join(map(str, s.shape))}]"
                             for s in specs)
        return f"Engine({self.backend}; inputs {show(self.inputs)}; outputs {show(self.outputs)})"
