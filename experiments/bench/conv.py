"""Benchmark GemConv + RegularNonlinearity against PyG GraphConv, and one GemResNet step.

    python experiments/bench/conv.py                 # 10k, 40k, 160k vertices; 16 and 64 channels
    python experiments/bench/conv.py --quick         # 10k vertices only, fewer repeats
    python experiments/bench/conv.py --sizes 10k,40k --channels 16 --device cuda

Meshes are icospheres (trimesh) with the frame field of ``gaugemesh.mesh_to_data``. Channels
are per order, max order 2, so the feature dimension is ``5 C``; GraphConv maps the same
``5 C`` to ``5 C``. Times are medians over repeats, ``torch.set_num_threads(2)`` on CPU.

Memory: each configuration runs in a fresh subprocess; "extra memory" is the rise of the
process's peak resident set size (``resource.getrusage(...).ru_maxrss``) from just before
the layer's first call (mesh, inputs and modules already allocated) to the end of the
timed forward+backward runs. For GemConv it includes the sparse geometry operators built
on the first call. On CUDA it is ``torch.cuda.max_memory_allocated`` above the allocation
before the first call.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

SUBDIVISIONS = {"10k": 5, "40k": 6, "160k": 7}
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


def _memory_start(device: str) -> float:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB


def _memory_peak(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, size: str, channels: int, device: str, repeats: int) -> dict:
    """One measurement, in its own process so that peak RSS is its own."""
    from torch_geometric.nn import GraphConv

    from gaugemesh.models import GemResNet
    from gaugemesh.nn import GemConv, RegularNonlinearity
    from gaugemesh.so2 import FieldType

    torch.set_num_threads(2)
    torch.manual_seed(0)
    data = make_data(size, device)
    ftype = FieldType.band(channels, 2)
    x = torch.randn(data.num_nodes, ftype.dim, device=device, requires_grad=True)
    if kind == "gem":
        conv, act = GemConv(ftype, ftype).to(device), RegularNonlinearity(ftype).to(device)

        def forward():
            return act(conv(x, data.edge_index, data.theta, data.transport, data.edge_weight))

    elif kind == "graphconv":
        conv = GraphConv(ftype.dim, ftype.dim).to(device)

        def forward():
            return conv(x, data.edge_index, data.edge_weight)

    else:  # one training step of the whole network
        data.x = data.pos[:, 2:3].contiguous()
        data.y = torch.randint(0, 8, (data.num_nodes,), device=device)
        net = GemResNet("1x0", 8, width=channels, max_order=2, num_blocks=4).to(device)
        opt = torch.optim.Adam(net.parameters(), 1e-3)

        def forward():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(data), data.y)
            return loss

    base = _memory_start(device)
    start = time.perf_counter()
    forward().sum().backward()  # warm-up; builds and caches GemConv's geometry operators
    first = time.perf_counter() - start
    with torch.no_grad():
        fwd = _time(forward, repeats, device)

    def step():
        forward().sum().backward()
        if kind == "net":
            opt.step()

    both = _time(step, repeats, device)
    return {"fwd": fwd, "both": both, "first": first, "mem_mb": _memory_peak(device) - base, "V": data.num_nodes}


def run_worker(kind, size, channels, device, repeats) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, size, str(channels), device, str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,40k,160k", help="comma list of 10k, 40k, 160k")
    parser.add_argument("--channels", default="16,64", help="comma list of channels per order")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="10k vertices, 3 repeats")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, size, channels, device, repeats = args.worker
        print(json.dumps(worker(kind, size, int(channels), device, int(repeats))))
        return
    sizes = ["10k"] if args.quick else args.sizes.split(",")
    repeats = 3 if args.quick else 5
    print(f"torch {torch.__version__}, device {args.device}, 2 threads, median of {repeats}; times in ms, memory in MB")
    header = f"{'V':>7} {'C':>3} | {'GemConv+RegNL fwd':>17} {'fwd+bwd':>8} {'1st call':>8} {'mem':>6} | {'GraphConv fwd':>13} {'fwd+bwd':>8} {'mem':>6} | {'ratio fwd+bwd':>13} | reference GEM-CNN"
    print(header)
    for size in sizes:
        for channels in (int(c) for c in args.channels.split(",")):
            gem = run_worker("gem", size, channels, args.device, repeats)
            pyg = run_worker("graphconv", size, channels, args.device, repeats)
            ref = REFERENCE.get((size, channels))
            ref_text = f"{ref[0] * 1e3:.0f} ms, {ref[1]:.1f} GB ({ref[0] / gem['both']:.1f}x ours)" if ref else ""
            print(
                f"{gem['V']:>7} {channels:>3} | {gem['fwd'] * 1e3:>17.1f} {gem['both'] * 1e3:>8.1f} {gem['first'] * 1e3:>8.0f} "
                f"{gem['mem_mb']:>6.0f} | {pyg['fwd'] * 1e3:>13.1f} {pyg['both'] * 1e3:>8.1f} {pyg['mem_mb']:>6.0f} | "
                f"{gem['both'] / pyg['both']:>13.2f} | {ref_text}",
                flush=True,
            )
    net = run_worker("net", "10k", 16, args.device, repeats)
    print(
        f"GemResNet, 4 blocks, width 16 per order, max order 2, {net['V']} vertices: one training step "
        f"{net['both'] * 1e3:.0f} ms (target < 227 ms), first step {net['first'] * 1e3:.0f} ms, extra memory {net['mem_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
