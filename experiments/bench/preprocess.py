"""Benchmark `gaugemesh preprocess`: meshes per second and peak memory, cold and warm cache.

Runs the command line on each dataset (frame field + HKS) into a fresh cache, then again
(every entry a hit), sampling the resident memory of the whole process tree (the command
and its workers). Usage::

    .venv/bin/python experiments/bench/preprocess.py [--workers 2] [--data ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

DATASETS = {"human_seg": 381, "rna_seg": 48}


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run(dataset: Path, cache: Path, workers: int, features: list[str]) -> dict:
    """One `gaugemesh preprocess` run: wall time, peak tree RSS, and its summary line."""
    command = [sys.executable, "-m", "gaugemesh.cli", "preprocess", str(dataset), "--out", str(cache),
               "--workers", str(workers), "--no-progress", "--split", "train", "--features", *features]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(watched))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{err}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak / 2**20), "summary": out.strip().splitlines()[0]}


def main(argv: list[str] | None = None) -> None:
    default_data = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--features", nargs="+", default=["hks"])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)
    results = {}
    for name in args.datasets:
        count = DATASETS[name]
        with tempfile.TemporaryDirectory() as cache:
            cold = run(args.data / name, Path(cache), args.workers, args.features)
            warm = run(args.data / name, Path(cache), args.workers, args.features)
        results[name] = {"meshes": count, "cold": cold, "warm": warm,
                         "meshes_per_s_cold": round(count / cold["seconds"], 2),
                         "meshes_per_s_warm": round(count / warm["seconds"], 2)}
        print(f"{name}: {count} meshes, cold {cold['seconds']} s ({results[name]['meshes_per_s_cold']} meshes/s, "
              f"peak {cold['peak_rss_mib']} MiB), warm {warm['seconds']} s "
              f"({results[name]['meshes_per_s_warm']} meshes/s, peak {warm['peak_rss_mib']} MiB)", flush=True)
    print(json.dumps({"workers": args.workers, "features": args.features, "cpus": psutil.cpu_count(),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
