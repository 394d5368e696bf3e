"""GPU benchmark, in one process so that it fits a few minutes of a lent GPU (``make bench-gpu``).

    python -m experiments.bench.gpu                       # everything below, about 2-4 minutes
    python -m experiments.bench.gpu --sizes 10k --quick   # a smoke run

1. ``GemConv`` + ``RegularNonlinearity`` (max order 2, ``C`` channels per order) against PyG
   ``GraphConv`` of the same widths, forward+backward, at 10k, 40k and 160k vertices,
   ``C`` = 16 and 64, in fp32 and under bf16 autocast: median time (CUDA-synchronised) and
   the peak of ``torch.cuda.max_memory_allocated`` above what was allocated before.
2. One ``GemResNet`` training step (4 blocks, width 16 per order, Adam) at 10k vertices, fp32
   and bf16: the same numbers as ``make bench-conv`` reports on CPU.
3. Training throughput (``experiments/bench/train_step.py``): steps/s over 24 meshes of 2.5k
   vertices in batches of 4, operators kept per mesh, fp32 and bf16.

Prints one table row per measurement and, with ``--json``, writes them all.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from experiments.bench import conv, train_step


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def layer_row(kind: str, size: str, channels: int, precision: str, repeats: int) -> dict:
    """Forward+backward time and peak extra memory of one layer configuration."""
    torch.manual_seed(0)
    torch.cuda.empty_cache()
    data, forward, opt = conv.setup(kind, size, channels, "cuda")
    dtype = torch.bfloat16 if precision == "bf16" else None

    def step():
        with torch.autocast("cuda", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = forward()
        out.float().sum().backward()
        if opt is not None:
            opt.step()

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step()  # builds and caches GemConv's operators
    step()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    return {"kind": kind, "V": data.num_nodes, "C": channels, "precision": precision,
            "fwd_bwd_ms": round(_median_ms(step, repeats), 3), "peak_mb": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,40k,160k")
    parser.add_argument("--channels", default="16,64")
    parser.add_argument("--quick", action="store_true", help="3 repeats, no throughput run")
    parser.add_argument("--json", type=Path, help="also write every row here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench-gpu needs a CUDA device: torch.cuda.is_available() is False")
    repeats = 3 if args.quick else 20
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, median of {repeats}", flush=True)
    rows = []
    for size in args.sizes.split(","):
        for channels in (int(c) for c in args.channels.split(",")):
            for precision in ("fp32", "bf16"):
                gem = layer_row("gem", size, channels, precision, repeats)
                pyg = layer_row("graphconv", size, channels, precision, repeats)
                rows += [gem, pyg]
                print(f"V {gem['V']:>7} C {channels:>3} {precision}: GemConv+RegNL {gem['fwd_bwd_ms']:8.2f} ms "
                      f"{gem['peak_mb']:8.1f} MB | GraphConv {pyg['fwd_bwd_ms']:8.2f} ms {pyg['peak_mb']:8.1f} MB | "
                      f"ratio {gem['fwd_bwd_ms'] / pyg['fwd_bwd_ms']:.2f}", flush=True)
    for precision in ("fp32", "bf16"):
        net = layer_row("net", "10k", 16, precision, repeats)
        rows.append(net)
        print(f"GemResNet training step, 4 blocks, width 16, {net['V']} vertices, {precision}: "
              f"{net['fwd_bwd_ms']:.2f} ms, {net['peak_mb']:.1f} MB", flush=True)
    if not args.quick:
        for precision in ("fp32", "bf16"):
            options = argparse.Namespace(device="cuda", precision=precision, meshes=24, vertices=2562, batch_size=4,
                                         blocks=4, epochs=4, threads=4)
            row = {"kind": "train_step", "precision": precision, **train_step.run(options)}
            rows.append(row)
            print(f"training throughput, 24 meshes of 2562 vertices, batch 4, {precision}: "
                  f"{row['steps_per_s']} steps/s (first epoch {row['first_epoch_steps_per_s']})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
