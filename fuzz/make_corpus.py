"""Writes the fuzzer's seed corpus, fuzz/corpus/<target>/: a few tiny valid inputs per reader.

    python3 fuzz/make_corpus.py [--ember .build/debug/ember]

ONNX models come from the onnx package, the .pt2 archives from torch.export.save (and the
tests' fixtures of older torch releases, whose archive layout differs), the engines from
`ember compile` of the ONNX seeds, the .npy files from NumPy. Every file is small: libFuzzer
mutates seeds, so a few kilobytes reach as deep as a large model does, far faster.
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def model(name: str, nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="ember-fuzz")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def onnx_models() -> dict[str, onnx.ModelProto]:
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    x4 = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y4 = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    models = {
        "relu": model("relu", [helper.make_node("Relu", ["x"], ["y"])], [x4], [y4]),
        "add_const": model(
            "add_const", [helper.make_node("Add", ["x", "b"], ["y"])], [x4], [y4],
            [numpy_helper.from_array(f32(4), "b")]),
        "gemm_softmax": model(
            "gemm_softmax",
            [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Softmax", ["h"], ["y"], axis=-1)],
            [x4], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
            [numpy_helper.from_array(f32(3, 4), "w"), numpy_helper.from_array(f32(3), "b")]),
        "conv_pool": model(
            "conv_pool",
            [
                helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                helper.make_node("Relu", ["c"], ["r"]),
                helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
            ],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])],
            [numpy_helper.from_array(f32(2, 1, 3, 3), "w"), numpy_helper.from_array(f32(2), "b")]),
        "symbolic_matmul": model(
            "symbolic_matmul",
            [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Reshape", ["m", "s"], ["y"])],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 1])],
            [numpy_helper.from_array(f32(4, 2), "w"), numpy_helper.from_array(np.array([-1, 2, 1], np.int64), "s")]),
    }
    # An initializer in an external file: the fuzzer resolves external data in an empty folder,
    # so this seed exercises the external-data checks, which refuse it.
    external = onnx.ModelProto()
    external.CopyFrom(models["add_const"])
    b = external.graph.initializer[0]
    b.ClearField("raw_data")
    b.ClearField("float_data")
    b.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "16")):
        entry = b.external_data.add()
        entry.key, entry.value = key, value
    models["external_data"] = external
    return models


def write_onnx(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, m in onnx_models().items():
        paths[name] = out / f"{name}.onnx"
        paths[name].write_bytes(m.SerializeToString())
    return paths


def write_pt2(out: Path) -> None:
    import torch

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.relu(self.linear(x)).sum(dim=-1, keepdim=True) * 2.0

    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(Small().eval(), (torch.randn(2, 4),), dynamic_shapes=({0: batch},))
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    (out / "linear_relu.pt2").write_bytes(buffer.getvalue())
    # The layout of torch 2.6 and 2.7 (pickled weights), from the tests' fixtures.
    for release in ("torch-2.6", "torch-2.7"):
        fixture = ROOT / "tests" / "fixtures" / "pt2" / release / "mlp.pt2"
        if fixture.exists():
            shutil.copyfile(fixture, out / f"mlp.{release}.pt2")


def write_engines(out: Path, ember: Path, onnx_paths: dict[str, Path]) -> None:
    if not ember.exists():
        print(f"skipping engines: {ember} is not built")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, backend in (("relu", "cpu"), ("gemm_softmax", "cpu"), ("conv_pool", "cpu"), ("add_const", "reference")):
        target = out / f"{name}.{backend}.engine"
        subprocess.run([str(ember), "compile", str(onnx_paths[name]), "--backend", backend, "-o", str(target)], check=True)


def write_npy(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    arrays = {
        "f32_2x3": rng.standard_normal((2, 3)).astype(np.float32),
        "i64_vector": np.arange(5, dtype=np.int64),
        "bool_scalar": np.array(True),
        "u8_empty": np.zeros((0, 4), np.uint8),
        "f16_fortran": np.asfortranarray(rng.standard_normal((3, 2)).astype(np.float16)),
        "bf16_void": np.frombuffer(np.arange(6, dtype=np.uint16).tobytes(), dtype="V2").reshape(2, 3),
    }
    for name, array in arrays.items():
        np.save(out / f"{name}.npy", array, allow_pickle=False)
    with open(out / "f64_v2.npy", "wb") as f:
        np.lib.format.write_array(f, rng.standard_normal((2, 2)), version=(2, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ember", type=Path, default=ROOT / ".build" / "debug" / "ember")
    args = parser.parse_args()
    onnx_paths = write_onnx(CORPUS / "onnx")
    write_pt2(CORPUS / "pt2")
    write_npy(CORPUS / "npy")
    with tempfile.TemporaryDirectory() as tmp:
        # ember compile reads the models from a folder of their own.
        copies = {}
        for name, path in onnx_paths.items():
            copies[name] = Path(tmp) / path.name
            shutil.copyfile(path, copies[name])
        write_engines(CORPUS / "engine", args.ember, copies)


if __name__ == "__main__":
    main()
