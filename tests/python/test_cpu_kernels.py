"""Every oneDNN primitive the CPU backend runs is an optimized one, never oneDNN's reference loop.

oneDNN falls back to `ref:any` (a naive loop, thousands of times slower) when it is handed formats
its fast kernels do not take, such as a channel-blocked source with a plain destination. Each model
here is a small configuration of a network whose layers hit such cases: concats of convolutions
(SqueezeNet, GoogLeNet, DenseNet), channel shuffles (ShuffleNet-V2), squeeze-and-excite
(EfficientNet), layer norms over convolutions (ConvNeXt), grouped and depthwise convolutions,
1-D and dilated convolutions, odd channel counts. It runs through `ember run` with
DNNL_VERBOSE=1, fails on any `ref:` primitive, and checks the outputs against ONNX Runtime.
"""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from harness import EMBER, output_file_name, run_onnxruntime

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
nn = torch.nn


def randomize_norms(model: nn.Module) -> nn.Module:
    """Random batch-norm statistics, so that a wrong channel order shows in the outputs."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


class Conv1dFrontEnd(nn.Module):
    """A Whisper/wav2vec2-like audio front end: 1-D convolutions (strided, dilated, depthwise, with an
    odd channel count) then a layer norm over the channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(20, 24, 3, padding=1)
        self.conv2 = nn.Conv1d(24, 24, 3, stride=2, padding=1)
        self.dilated = nn.Conv1d(24, 29, 3, padding=2, dilation=2)
        self.depthwise = nn.Conv1d(29, 29, 5, padding=2, groups=29)
        self.norm = nn.LayerNorm(29)

    def forward(self, x):
        x = nn.functional.gelu(self.conv1(x))
        x = nn.functional.gelu(self.conv2(x))
        x = self.depthwise(self.dilated(x))
        return self.norm(x.transpose(1, 2))


class DilatedConcat(nn.Module):
    """Dilated 3x3 and 1x1 convolutions with 3 and 24 channels, concatenated and pooled."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 24, 3, padding=2, dilation=2)
        self.b = nn.Conv2d(3, 24, 1)
        self.c = nn.Conv2d(48, 3, 3, padding=1)

    def forward(self, x):
        y = torch.cat([torch.relu(self.a(x)), torch.relu(self.b(x))], dim=1)
        y = nn.functional.max_pool2d(y, 2)
        return self.c(y)


def models():
    m = torchvision.models
    efficientnet_setting, last_channel = m.efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.5, depth_mult=0.3)
    cn = m.convnext.CNBlockConfig
    return {
        "squeezenet": (lambda: m.squeezenet1_1(num_classes=10), (2, 3, 64, 64)),
        "shufflenet_v2": (lambda: m.ShuffleNetV2([1, 1, 1], [24, 58, 116, 232, 256], num_classes=10), (2, 3, 64, 64)),
        "efficientnet_b0": (lambda: m.EfficientNet(efficientnet_setting, 0.2, last_channel=last_channel, num_classes=10), (2, 3, 64, 64)),
        "convnext": (lambda: m.ConvNeXt([cn(24, 48, 1), cn(48, None, 1)], num_classes=10), (2, 3, 64, 64)),
        "googlenet": (lambda: m.GoogLeNet(num_classes=10, aux_logits=False, init_weights=True), (2, 3, 64, 64)),
        "resnext": (lambda: m.ResNet(m.resnet.Bottleneck, [1, 1, 1, 1], groups=8, width_per_group=4, num_classes=10), (2, 3, 64, 64)),
        "densenet": (lambda: m.DenseNet(growth_rate=12, block_config=(2, 2, 2), num_init_features=24, num_classes=10), (2, 3, 64, 64)),
        "conv1d": (Conv1dFrontEnd, (2, 20, 50)),
        "dilated_concat": (DilatedConcat, (2, 3, 33, 33)),
    }


@pytest.mark.parametrize("name", list(models()))
def test_no_reference_primitive(name, tmp_path):
    make, shape = models()[name]
    torch.manual_seed(0)
    model = randomize_norms(make())
    x = torch.randn(*shape)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, x, str(path), dynamo=False, input_names=["x"], output_names=["y"])
    np.save(tmp_path / "x.npy", x.numpy())

    env = dict(os.environ, DNNL_VERBOSE="1")
    proc = subprocess.run(
        [str(EMBER), "run", str(path), "--backend", "cpu", "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    executed = [line for line in proc.stdout.splitlines() if line.startswith("onednn_verbose,exec,")]
    assert executed, "oneDNN ran no primitive: DNNL_VERBOSE printed nothing"
    reference = [line for line in executed if line.split(",")[4].startswith("ref")]
    assert not reference, f"{len(reference)} of {len(executed)} primitives ran oneDNN's reference kernels:\n" + "\n".join(reference)

    actual = np.load(tmp_path / "out" / output_file_name("y"))
    expected = run_onnxruntime(path, {"x": x.numpy()})["y"]
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    error = np.abs(actual - expected).max()
    assert error <= 1e-4 * scale, f"max error {error} against ONNX Runtime, outputs up to {scale}"
