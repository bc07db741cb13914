"""PyTorch eager and torch.compile on the shapes of Ember's CUDA checks (ember-gpu-check).

Prints markdown tables of median device milliseconds, timed with CUDA events after warm-up, on
fresh random inputs. scripts/gpu-check.sh runs it on the GPU machine beside the Ember checks.
Convolutions run channels-last in f16 with torch.backends.cudnn.benchmark on, so cuDNN picks
each algorithm by timing, as Ember does.

    python3 cuda_torch_peer.py [--sections ops,mlp,resnet,bottleneck]
"""

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import median_ms  # noqa: E402  (beside this file, here and on the GPU machine)


def r(shape, dtype, lo=-2.0, hi=2.0):
    return torch.empty(shape, device="cuda", dtype=dtype).uniform_(lo, hi)


f32, f16, bf16 = torch.float32, torch.float16, torch.bfloat16
names = {f32: "f32", f16: "f16", bf16: "bf16"}


def cases():
    for dt in (f32, f16, bf16):
        x, b = r((64, 128, 768), dt), r((768,), dt)
        yield f"add+gelu {names[dt]} [64,128,768]+[768]", lambda x=x, b=b: F.gelu(x + b)
        a, m, c = r((32, 1, 256), dt), r((64, 1), dt), r((), dt)
        yield f"mul+add+sigmoid+mul {names[dt]} [32,1,256]x[64,1]+[]", lambda a=a, m=m, c=c: torch.sigmoid(a * m + c) * a
    x = r((4096, 1024), f32)
    yield "relu f32 [4096,1024]", lambda: torch.relu(x)
    xs = r((8192, 1024), f16)
    yield "silu f16 [8192,1024]", lambda: F.silu(xs)
    xg = r((1024, 3072), f32)
    yield "gelu_tanh f32 [1024,3072]", lambda: F.gelu(xg, approximate="tanh")
    for dt in (f32, f16, bf16):
        xs = r((4096, 1000), dt, -8, 8)
        yield f"softmax {names[dt]} [4096,1000]", lambda xs=xs: torch.softmax(xs, -1)
        xl, w, b = r((8192, 768), dt, -3, 5), r((768,), dt), r((768,), dt)
        yield f"layer_norm {names[dt]} [8192,768]", lambda xl=xl, w=w, b=b: F.layer_norm(xl, (768,), w, b, 1e-5)
    xr = r((4096, 1024), f32)
    yield "reduce_sum f32 [4096,1024] axis 1", lambda: xr.sum(1)
    xa, wa, ba = r((512, 1024), f32, -1, 1), r((1024, 1024), f32, -1, 1), r((1024,), f32)
    yield "linear+bias f32 [512,1024]x[1024,1024]", lambda: torch.addmm(ba, xa, wa)
    xh, wh, bh = r((256, 1024), f16, -1, 1), r((1024, 1024), f16, -1, 1), r((1024,), f16)
    yield "linear+bias+relu f16 [256,1024]x[1024,1024]", lambda: torch.relu(torch.addmm(bh, xh, wh))
    xb, wb, bb = r((2, 128, 768), bf16, -1, 1), r((768, 1024), bf16, -1, 1), r((1024,), bf16)
    yield "matmul+bias+gelu_tanh bf16 [2,128,768]x[768,1024]", lambda: F.gelu(xb @ wb + bb, approximate="tanh")
    q, k = r((16, 128, 64), f16, -1, 1), r((16, 64, 128), f16, -1, 1)
    yield "batched matmul f16 [16,128,64]x[16,64,128]", lambda: torch.bmm(q, k)
    xe, we, be = r((256, 768), f16, -1, 1), r((768, 3072), f16, -1, 1), r((3072,), f16)
    yield "linear+bias, then gelu (erf) in place f16 [256,768]x[768,3072]", lambda: F.gelu(torch.addmm(be, xe, we))
    xq, wq, bq, rq = r((384, 256), f32), r((256, 512), f32), r((512,), f32), r((384, 512), f32)
    yield "linear+bias, then residual add+relu in place f32 [384,256]x[256,512]", lambda: torch.relu(torch.addmm(bq, xq, wq) + rq)


def mlp_block(dt):
    """The block of Ember's CUDABlockCheck: softmax(layer_norm(x + linear(gelu_tanh(linear(x)))))."""
    x = r((128, 512), dt, -1, 1)
    w1, b1 = r((512, 2048), dt, -0.05, 0.05), r((2048,), dt, -0.1, 0.1)
    w2, b2 = r((2048, 512), dt, -0.05, 0.05), r((512,), dt, -0.1, 0.1)
    g, b = r((512,), dt, 0.5, 1.5), r((512,), dt, -0.5, 0.5)

    def block():
        h = F.gelu(torch.addmm(b1, x, w1), approximate="tanh")
        y = torch.addmm(b2, h, w2) + x
        return torch.softmax(F.layer_norm(y, (512,), g, b, 1e-5), -1)

    return block


def conv_layers(n):
    """ResNet-50's convolution layers as in CUDAConvCases.resnet50: (name, x, w, b, stride, pad, residual)."""
    layers = [
        ("stem 7x7/2 3->64 @224 +bias+relu", 3, 224, 64, 7, 2, False),
        ("layer1 1x1 256->64 @56 +bias+relu", 256, 56, 64, 1, 1, False),
        ("layer1 3x3 64->64 @56 +bias+relu", 64, 56, 64, 3, 1, False),
        ("layer1 1x1 64->256 @56 +bias+residual+relu", 64, 56, 256, 1, 1, True),
        ("layer2 downsample 1x1/2 256->512 @56 +bias", 256, 56, 512, 1, 2, None),
        ("layer2 3x3/2 128->128 @56 +bias+relu", 128, 56, 128, 3, 2, False),
        ("layer3 3x3 256->256 @14 +bias+relu", 256, 14, 256, 3, 1, False),
        ("layer4 1x1 512->2048 @7 +bias+residual+relu", 512, 7, 2048, 1, 1, True),
        ("layer4 3x3 512->512 @7 +bias+relu", 512, 7, 512, 3, 1, False),
    ]
    cl = torch.channels_last
    for name, c, hw, k, ks, stride, residual in layers:
        x = r_((n, c, hw, hw)).to(memory_format=cl)
        w = r_((k, c, ks, ks), -0.1, 0.1).to(memory_format=cl)
        b = r_((k,), -0.5, 0.5)
        pad = ks // 2
        out = (hw + 2 * pad - ks) // stride + 1
        z = r_((n, k, out, out)).to(memory_format=cl)
        if residual is None:
            fn = lambda x=x, w=w, b=b, s=stride, p=pad: F.conv2d(x, w, b, s, p)
        elif residual:
            fn = lambda x=x, w=w, b=b, s=stride, p=pad, z=z: torch.relu(F.conv2d(x, w, b, s, p) + z)
        else:
            fn = lambda x=x, w=w, b=b, s=stride, p=pad: torch.relu(F.conv2d(x, w, b, s, p))
        yield f"{name} f16 n{n}", fn


def r_(shape, lo=-1.0, hi=1.0):
    return r(shape, f16, lo, hi)


def bottleneck(n, dt):
    """CUDAConvBlockCheck's block: relu(conv1x1(relu(conv3x3(relu(conv1x1(x)))))) + x), x [n,256,56,56]."""
    cl = torch.channels_last
    x = r((n, 256, 56, 56), dt, -1, 1).contiguous(memory_format=cl)
    ws = [r(shape, dt, -0.1, 0.1).contiguous(memory_format=cl) for shape in ((64, 256, 1, 1), (64, 64, 3, 3), (256, 64, 1, 1))]
    bs = [r((k,), dt, -0.3, 0.3) for k in (64, 64, 256)]

    def block():
        h = torch.relu(F.conv2d(x, ws[0], bs[0]))
        h = torch.relu(F.conv2d(h, ws[1], bs[1], padding=1))
        return torch.relu(F.conv2d(h, ws[2], bs[2]) + x)

    return block


def timed_table(title, named, modes=("eager", "compile")):
    print(f"\n| {title} | " + " | ".join(f"torch {m} ms" for m in modes) + " |")
    print("| --- |" + " --- |" * len(modes))
    for name, fn in named:
        cells = []
        for mode in modes:
            try:
                if mode == "eager":
                    cells.append(f"{median_ms(fn):.4f}")
                # The cases share one lambda's code: without a reset, dynamo stops
                # recompiling it after 8 shapes and runs the rest eagerly.
                elif mode == "compile":
                    torch.compiler.reset()
                    cells.append(f"{median_ms(torch.compile(fn)):.4f}")
                else:
                    torch.compiler.reset()
                    cells.append(f"{median_ms(torch.compile(fn, mode='reduce-overhead')):.4f}")
            except Exception as error:  # a failure is reported, not fatal
                cells.append(f"failed: {type(error).__name__}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="ops,mlp,resnet,bottleneck")
    sections = set(parser.parse_args().sections.split(","))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False  # f32 stays f32, as in Ember's f32 checks
    print(f"torch {torch.__version__} (cuDNN {torch.backends.cudnn.version()}) on {torch.cuda.get_device_name()}")
    if "resnet" in sections:
        for n in (1, 32):
            timed_table(f"ResNet-50 conv, channels-last, n{n}", conv_layers(n))
    if "bottleneck" in sections:
        named = [(f"bottleneck {names[dt]} n{n}", bottleneck(n, dt)) for dt, n in ((f32, 1), (f16, 1), (f16, 32))]
        timed_table("bottleneck block, channels-last", named, modes=("eager", "compile", "reduce-overhead"))
    if "ops" not in sections and "mlp" not in sections:
        return 0
    print("| case | torch eager ms | torch.compile ms |")
    print("| --- | --- | --- |")
    for name, fn in (cases() if "ops" in sections else []):
        eager = median_ms(fn)
        try:
            compiled_fn = torch.compile(fn)
            compiled = f"{median_ms(compiled_fn):.4f}"
        except Exception as error:  # a compile failure is reported, not fatal
            compiled = f"failed: {type(error).__name__}"
        print(f"| {name} | {eager:.4f} | {compiled} |", flush=True)
    print("\n| mlp block [128,512] | torch eager ms | torch.compile ms | torch.compile reduce-overhead ms |")
    print("| --- | --- | --- | --- |")
    for dt in ((f32, f16) if "mlp" in sections else ()):
        block = mlp_block(dt)
        eager = median_ms(block)
        compiled = median_ms(torch.compile(block))
        graphed = median_ms(torch.compile(block, mode="reduce-overhead"))
        print(f"| {names[dt]} | {eager:.4f} | {compiled:.4f} | {graphed:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
