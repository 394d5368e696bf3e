"""Benchmark: geodesic-disc graphs (``make bench-discs``): time and peak memory of
:func:`gaugemesh.geometry.geodesic_discs.geodesic_discs` on geodesic spheres, for radii that
hold about 10, 40 and 150 neighbours per vertex (a disc kernel trained at one resolution
and run on a mesh 4x and 16x finer). Each row runs in a fresh process, so that peaks do not
leak between rows; the frame field is computed first and not timed. Rows of more than
``--max-pairs`` vertex pairs are skipped: memory grows with the pairs (about 0.6 GiB per
million at 40 neighbours), so 164k vertices with 150 neighbours each would want ~14 GiB.

Measured (2 CPU cores, nothing else running): 10k vertices with 7.6 / 39 / 150 neighbours
0.33 / 0.98 / 2.7 s (0.10 / 0.24 / 0.63 GiB above the process's start); 164k with 7.7 / 40
neighbours 6.4 / 20.9 s (1.6 / 3.8 GiB).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from pathlib import Path

from experiments.bench.fresh_process import in_fresh_process
from experiments.bench.geometry import geodesic_sphere


def _measure(frequency: int, neighbours: int, out) -> None:
    from gaugemesh.geometry import frame_field
    from gaugemesh.geometry.geodesic_discs import geodesic_discs

    pos, faces = geodesic_sphere(frequency)
    field = frame_field(pos, faces)
    area = field.area.sum()
    radius = math.sqrt(neighbours * area / (math.pi * len(pos)))  # a disc of that many vertex areas
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    discs = geodesic_discs(pos, field.edge_index, field.theta, field.transport, field.area, radius)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out.put({"vertices": len(pos), "neighbours": discs.edge_index.shape[1] / len(pos), "seconds": seconds,
             "extra_gb": (peak - base) / 2**20})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequencies", type=int, nargs="+", default=[32, 128],
                        help="geodesic sphere frequencies (V = 10 f^2 + 2: 10k, 164k)")
    parser.add_argument("--neighbours", type=int, nargs="+", default=[10, 40, 150])
    parser.add_argument("--max-pairs", type=float, default=1e7, help="skip rows of more vertex pairs than this")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'vertices':>10} {'neighbours':>11} {'seconds':>8} {'extra memory':>13}")
    for frequency in args.frequencies:
        for neighbours in args.neighbours:
            if (10 * frequency**2 + 2) * neighbours > args.max_pairs:
                print(f"{10 * frequency**2 + 2:>10,} {neighbours:>11} skipped: more than --max-pairs {args.max_pairs:.0e}")
                continue
            row = in_fresh_process(_measure, frequency, neighbours)
            rows.append(row)
            print(f"{row['vertices']:>10,} {row['neighbours']:>11.1f} {row['seconds']:>8.2f} "
                  f"{row['extra_gb']:>10.2f} GiB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
