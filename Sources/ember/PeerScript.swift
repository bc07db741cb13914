/// The Python program `ember bench` runs a peer with. It reads a JSON request on stdin, times the
/// peer on the same inputs (warm-up, then iterations, median), writes the peer's outputs as .npy
/// files and prints one JSON line with the timings and its peak memory.
enum PeerScript {
    static let source = #"""
import json, os, sys, time
request = json.load(sys.stdin)
import numpy as np

def median_ms(run, warmup, iterations):
    for _ in range(warmup):
        run()
    times = []
    for i in range(iterations):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
        if (i + 1) % max(1, iterations // 4) == 0:
            print(f"{request['peer']}: {i + 1}/{iterations}", file=sys.stderr, flush=True)
    times.sort()
    return times[len(times) // 2]

inputs = {name: np.load(path) for name, path in request["inputs"].items()}
threads = request["threads"]
model = request["model"]
outputs = None

if request["peer"] == "onnxruntime":
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if model.endswith(".pt2"):
        import torch
        program = torch.export.load(model)
        onnx_path = request["scratch"] + "/peer.onnx"
        torch.onnx.export(program, tuple(torch.from_numpy(inputs[n]) for n in request["input_order"]), onnx_path,
                          input_names=request["input_order"], dynamo=True)
        model = onnx_path
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feeds = {i.name: inputs[i.name] for i in session.get_inputs()}
    outputs = dict(zip(names, session.run(None, feeds)))
    ms = median_ms(lambda: session.run(None, feeds), request["warmup"], request["iterations"])
elif request["peer"] == "torch":
    import torch
    torch.set_num_threads(threads)
    if not model.endswith(".pt2"):
        raise SystemExit("PyTorch runs only .pt2 archives (torch.export.save); this model is not one")
    module = torch.export.load(model).module()
    args = [torch.from_numpy(inputs[n]) for n in request["input_order"]]
    with torch.inference_mode():
        result = module(*args)
        flat = list(result) if isinstance(result, (tuple, list)) else [result]
        outputs = {name: t.numpy() for name, t in zip(request["output_order"], flat)}
        ms = median_ms(lambda: module(*args), request["warmup"], request["iterations"])
else:
    raise SystemExit(f"unknown peer {request['peer']}")

for name, value in outputs.items():
    np.save(os.path.join(request["scratch"], "peer-" + str(abs(hash(name))) + ".npy"), value)
files = {name: os.path.join(request["scratch"], "peer-" + str(abs(hash(name))) + ".npy") for name in outputs}
# VmHWM is this process image's own peak; ru_maxrss would include the peak of the process that started it.
peak_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"ms": ms, "outputs": files, "peak_mb": peak_mb}))
"""#
}
