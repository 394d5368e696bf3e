"""Benchmark GemConv + RegularNonlinearity against PyG GraphConv, and one GemResNet step.

    python experiments/bench/conv.py                 # 10k, 40k, 160k vertices; 16 and 64 channels
    python experiments/bench/conv.py --quick         # 10k vertices only, fewer repeats
    python experiments/bench/conv.py --sizes 10k,40k --channels 16 --device cuda

Meshes are icospheres (trimesh) with the frame field of ``gaugemesh.mesh_to_data``. Channels
are per order, max order 2, so the feature dimension is ``5 C``; GraphConv maps the same
``5 C`` to ``5 C``. Times are medians over repeats, ``torch.set_num_threads(2)`` on CPU.

Memory: each configuration runs in fresh subprocesses, after a warm-up of the same layers on
a small mesh, so that what is counted is the layer and not PyTorch's lazy start-up (thread
pools, kernels: 45-95 MB of resident memory for a first GraphConv call on this machine).
Two figures, both the rise above what was allocated before the first call on the mesh,
through that first call (which builds GemConv's geometry operators) and a second one:

- "tensor": the peak of live tensor memory, from PyTorch's memory profiler timeline;
- "RSS": the rise of the process's peak resident set size (``ru_maxrss``), which adds
  the C allocator's caching and fragmentation; measured in a process of its own, without
  the profiler, whose records took up to 1.3 GB more at 160k vertices.

On CUDA both are ``torch.cuda.max_memory_allocated`` above the allocation before the call.

The training step of the whole network is the median of 30 steps, timed twice: with the C
allocator's defaults, and as ``gaugemesh train`` runs it, with glibc told to keep freed
memory (:mod:`gaugemesh.training.allocator`). The layer rows use the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

SUBDIVISIONS = {"tiny": 2, "10k": 5, "40k": 6, "160k": 7}
REFERENCE = {  # the reference GEM-CNN, fwd+bwd seconds and extra GB, from the issue
    ("10k", 16): (0.230, 0.2),
    ("10k", 64): (1.75, 0.7),
    ("160k", 16): (6.2, 2.8),
}


def make_data(size: str, device: str):
    import trimesh

    import gaugemesh

    sphere = trimesh.creation.icosphere(SUBDIVISIONS[size])
    return gaugemesh.mesh_to_data(gaugemesh.validate_mesh(sphere.vertices, sphere.faces)).to(device)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time(fn, repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def setup(kind: str, size: str, channels: int, device: str):
    """The data and a closure running one forward pass (``kind``: gem, graphconv or net)."""
    from torch_geometric.nn import GraphConv

    from gaugemesh.models import GemResNet
    from gaugemesh.nn import GemConv, RegularNonlinearity
    from gaugemesh.so2 import FieldType

    data = make_data(size, device)
    ftype = FieldType.band(channels, 2)
    x = torch.randn(data.num_nodes, ftype.dim, device=device, requires_grad=True)
    if kind == "gem":
        conv, act = GemConv(ftype, ftype).to(device), RegularNonlinearity(ftype).to(device)
        return data, lambda: act(conv(x, data.edge_index, data.theta, data.transport, data.edge_weight)), None
    if kind == "graphconv":
        conv = GraphConv(ftype.dim, ftype.dim).to(device)
        return data, lambda: conv(x, data.edge_index, data.edge_weight), None
    # one training step of the whole network
    data.x = data.pos[:, 2:3].contiguous()
    data.y = torch.randint(0, 8, (data.num_nodes,), device=device)
    net = GemResNet("1x0", 8, width=channels, max_order=2, num_blocks=4).to(device)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def forward():
        opt.zero_grad()
        return torch.nn.functional.cross_entropy(net(data), data.y)

    return data, forward, opt


def worker(kind: str, size: str, channels: int, device: str, repeats: int) -> dict:
    """Times, in their own process."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    data, forward, opt = setup(kind, size, channels, device)
    start = time.perf_counter()
    forward().sum().backward()  # warm-up; builds and caches GemConv's geometry operators
    first = time.perf_counter() - start
    with torch.no_grad():
        fwd = _time(forward, repeats, device)

    def step():
        forward().sum().backward()
        if opt is not None:
            opt.step()

    both = _time(step, repeats, device)
    return {"fwd": fwd, "both": both, "first": first, "V": data.num_nodes}


def memory_worker(kind: str, size: str, channels: int, device: str, resident: bool = False) -> dict:
    """Extra memory of the first two forward+backward passes, in their own process: live
    tensors (profiled), or with ``resident`` the rise of peak RSS (not profiled)."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    _, warm, _ = setup(kind, "tiny", channels, device)
    warm().sum().backward()
    data, forward, _ = setup(kind, size, channels, device)

    def two_steps():
        for _ in range(2):
            forward().sum().backward()

    if resident and device != "cuda":
        rss_before = _rss_mb()
        two_steps()
        return {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before}  # KiB on Linux

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        two_steps()
        torch.cuda.synchronize()
        extra = (torch.cuda.max_memory_allocated() - base) / 2**20
        return {"tensor_mb": extra, "rss_mb": extra}  # one figure on CUDA
    from torch.profiler import profile

    with profile(profile_memory=True, record_shapes=True, with_stack=True) as prof:
        two_steps()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "timeline.json")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prof.export_memory_timeline(path, device="cpu")
        with open(path) as f:
            _, sizes = json.load(f)
    totals = [sum(s) for s in sizes]
    return {"tensor_mb": (max(totals) - totals[0]) / 2**20}


def run_worker(kind, size, channels, device, repeats, malloc="default", modes=("time", "memory", "rss")) -> dict:
    out = {}
    for mode in modes:
        cmd = [sys.executable, __file__, "--worker", mode, kind, size, str(channels), device, str(repeats), malloc]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,40k,160k", help="comma list of 10k, 40k, 160k")
    parser.add_argument("--channels", default="16,64", help="comma list of channels per order")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="10k vertices, 3 repeats")
    parser.add_argument("--worker", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, kind, size, channels, device, repeats, malloc = args.worker
        if malloc == "keep":
            from gaugemesh.training.allocator import keep_freed_memory

            if not keep_freed_memory():
                raise SystemExit("this C library does not take mallopt; run without the 'keep' step")
        if mode == "time":
            print(json.dumps(worker(kind, size, int(channels), device, int(repeats))))
        else:
            print(json.dumps(memory_worker(kind, size, int(channels), device, resident=mode == "rss")))
        return
    sizes = ["10k"] if args.quick else args.sizes.split(",")
    repeats = 3 if args.quick else 5
    print(f"torch {torch.__version__}, device {args.device}, 2 threads, median of {repeats}; times in ms, memory in MB")
    print(
        f"{'V':>7} {'C':>3} | {'GemConv+RegNL fwd':>17} {'fwd+bwd':>8} {'1st call':>8} {'tensor':>6} {'RSS':>5} | "
        f"{'GraphConv fwd':>13} {'fwd+bwd':>8} {'tensor':>6} {'RSS':>5} | {'ratio fwd+bwd':>13} | reference GEM-CNN"
    )
    for size in sizes:
        for channels in (int(c) for c in args.channels.split(",")):
            gem = run_worker("gem", size, channels, args.device, repeats)
            pyg = run_worker("graphconv", size, channels, args.device, repeats)
            ref = REFERENCE.get((size, channels))
            ref_text = ""
            if ref:
                speed, memory = ref[0] / gem["both"], gem["tensor_mb"] / (ref[1] * 1024)
                ref_text = f"{ref[0] * 1e3:.0f} ms, {ref[1]:.1f} GB: ours {speed:.1f}x faster, {memory:.2f}x the memory"
            print(
                f"{gem['V']:>7} {channels:>3} | {gem['fwd'] * 1e3:>17.1f} {gem['both'] * 1e3:>8.1f} {gem['first'] * 1e3:>8.0f} "
                f"{gem['tensor_mb']:>6.0f} {gem['rss_mb']:>5.0f} | {pyg['fwd'] * 1e3:>13.1f} {pyg['both'] * 1e3:>8.1f} "
                f"{pyg['tensor_mb']:>6.0f} {pyg['rss_mb']:>5.0f} | {gem['both'] / pyg['both']:>13.2f} | {ref_text}",
                flush=True,
            )
    steps = 5 if args.quick else 30
    net = run_worker("net", "10k", 16, args.device, steps)
    kept = run_worker("net", "10k", 16, args.device, steps, malloc="keep", modes=("time",))
    print(
        f"GemResNet, 4 blocks, width 16 per order, max order 2, {net['V']} vertices, one training step "
        f"(median of {steps}; DiffusionNet 227 ms): {net['both'] * 1e3:.0f} ms "
        f"({227 / (net['both'] * 1e3):.2f}x faster) with the C allocator's defaults, "
        f"{kept['both'] * 1e3:.0f} ms ({227 / (kept['both'] * 1e3):.2f}x faster) as gaugemesh train runs it; "
        f"first step {net['first'] * 1e3:.0f} ms, extra memory {net['tensor_mb']:.0f} MB tensors, "
        f"{net['rss_mb']:.0f} MB RSS"
    )


if __name__ == "__main__":
    main()
