"""A smaller RNA training set for ablations: every ``--every``-th training mesh (sorted by
name), as a folder of links to the full dataset's ``off/`` and ``labels/`` with its own
``train.txt``. Nothing is copied.

    python -m experiments.rna_seg.subset ../data/rna ../data/rna_ablation [--every 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gaugemesh.datasets.layouts.labels import read_split_file


def make_subset(source: Path, target: Path, every: int = 4) -> list[str]:
    """Write the subset folder ``target`` of the dataset ``source``; returns its mesh names."""
    names = sorted(read_split_file(source / "train.txt") or [])
    if not names:
        raise SystemExit(f"no train.txt with mesh names in {source}")
    chosen = names[::every]
    target.mkdir(parents=True, exist_ok=True)
    for folder in ("off", "labels"):
        link = target / folder
        if not link.exists():
            link.symlink_to((source / folder).resolve(), target_is_directory=True)
    (target / "train.txt").write_text("\n".join(chosen) + "\n")
    return chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path)
    p.add_argument("target", type=Path)
    p.add_argument("--every", type=int, default=4)
    args = p.parse_args(argv)
    chosen = make_subset(args.source, args.target, args.every)
    print(f"{len(chosen)} meshes in {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
