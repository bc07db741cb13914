/// The Python program `ember bench` runs a peer with. It reads a JSON request line on stdin, loads
/// the model, makes the warm-up runs and says it is ready. Then it answers commands, one JSON line
/// each: `{"time": N}` makes one untimed run (the caches are Ember's after its turn) and N timed
/// ones, and answers with every run's milliseconds; `{"finish": true}` writes the peer's outputs as
/// .npy files and answers with their paths and the process's peak memory. Its answers are the
/// stdout lines that start with `ember-peer `: the libraries it loads may print lines of their own.
enum PeerScript {
    static let prefix = "ember-peer "

    static let source = #"""
import json, os, sys, time
request = json.loads(sys.stdin.readline())
import numpy as np

def send(message):
    print("ember-peer " + json.dumps(message), flush=True)

inputs = {name: np.load(path) for name, path in request["inputs"].items()}
threads = request["threads"]
model = request["model"]

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
    run = lambda: session.run(None, feeds)
    outputs = dict(zip(names, run()))
elif request["peer"] == "torch":
    import torch
    torch.set_num_threads(threads)
    if not model.endswith(".pt2"):
        raise SystemExit("PyTorch runs only .pt2 archives (torch.export.save); this model is not one")
    module = torch.export.load(model).module()
    args = [torch.from_numpy(inputs[n]) for n in request["input_order"]]
    run = torch.inference_mode()(lambda: module(*args))
    result = run()
    flat = list(result) if isinstance(result, (tuple, list)) else [result]
    outputs = {name: t.numpy() for name, t in zip(request["output_order"], flat)}
else:
    raise SystemExit(f"unknown peer {request['peer']}")

for _ in range(request["warmup"]):
    run()
send({"ready": True})

for line in sys.stdin:
    command = json.loads(line)
    if "time" in command:
        run()
        times = []
        for _ in range(command["time"]):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1e3)
        send({"ms": times})
    elif command.get("finish"):
        files = {}
        for index, (name, value) in enumerate(outputs.items()):
            files[name] = os.path.join(request["scratch"], f"peer-{index}.npy")
            np.save(files[name], value)
        # VmHWM is this process image's own peak; ru_maxrss would include the peak of the process that started it.
        peak_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
        send({"outputs": files, "peak_mb": peak_mb})
        break
"""#
}
