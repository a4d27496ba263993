"""Per-point visibility of models on held-out photos with pasted occluders (`train.visibility`):
recall of covered points and false-occluded rate per region, on every pool's held-out faces.

    OMP_NUM_THREADS=1 python benchmarks/visibility.py r1=run/best.pt --pools /work/data/prep --faces 30

Prints a table per model and writes benchmarks/results/visibility.json (or --json).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipnet106 import Landmarker
from pipnet106.fileio import atomic_write_json
from pipnet106.train.follow import prepared_faces
from pipnet106.train.visibility import REGIONS, measure_visibility

POOLS = ("lfw", "utk", "mebeauty", "prima", "cuhk", "aaf", "webmorph")


def all_faces(pools: Path, names, n: int):
    for name in names:
        if (pools / name / "test.txt").exists():
            yield from prepared_faces(pools / name, "test.txt", limit=n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="name=model with a visibility output")
    ap.add_argument("--pools", default="/work/data/prep")
    ap.add_argument("--pool-names", nargs="*", default=list(POOLS))
    ap.add_argument("--faces", type=int, default=30, help="held-out faces per pool")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="benchmarks/results/visibility.json")
    a = ap.parse_args()
    out = {"faces_per_pool": a.faces, "pools": a.pool_names, "models": {}}
    for spec in a.models:
        name, path = spec.split("=", 1)
        lm = Landmarker.from_path(path, threads=a.threads, detector=None)
        rep = measure_visibility(lm, all_faces(Path(a.pools), a.pool_names, a.faces))
        out["models"][name] = {"path": path, **rep}
        print(f"\n### {name}: {rep.get('copies', 0)} occluded copies of {rep.get('faces', 0)} faces\n")
        if "error" in rep:
            print(rep["error"])
            continue
        print("| | " + " | ".join(("all",) + REGIONS) + " |")
        print("|---" * (len(REGIONS) + 2) + "|")
        for key, label in (("recall", "recall of covered points"), ("false_occluded", "false-occluded rate")):
            print(f"| {label} | " + " | ".join(f"{rep['regions'][r][key]:.3f}" for r in ("all",) + REGIONS) + " |")
        print(f"\nROC AUC (covered vs uncovered, any threshold): {rep['auc']:.3f}")
        atomic_write_json(a.json, out)


if __name__ == "__main__":
    main()
