"""Throughput of `pipnet106 prepare` with 1 and 2 worker processes.

Generates N synthetic labelled faces (mixed .jpg/.png, 160-400 px) into a temp folder, times
`prepare` (both crop modes) per worker count, prints a table and writes
benchmarks/results/prepare.json. The default N runs in well under 2 minutes on 2 cores.

    .venv/bin/python benchmarks/prepare.py [--n 600] [--workers 1 2] [--size 256]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from pipnet106.fileio import atomic_write_json
from pipnet106.data.prepare import prepare
from pipnet106.synth.faces import generate_dataset

RESULTS = Path(__file__).resolve().parent / "results" / "prepare.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="synthetic samples (default 600)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)")
    ap.add_argument("--crops", nargs="+", default=["letterbox", "face"], choices=["letterbox", "face"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=1, help="runs per setting; the best is reported")
    ap.add_argument("--out", default=str(RESULTS), help="JSON results file")
    args = ap.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="pipnet106-bench-") as tmp:
        src = Path(tmp) / "src"
        t = time.perf_counter()
        generate_dataset(src, args.n, seed=0, size_range=(160, 400), exts=(".jpg", ".png"))
        gen_s = time.perf_counter() - t
        print(f"generated {args.n} samples in {gen_s:.1f} s")
        for crop in args.crops:
            for w in args.workers:
                best = None
                for r in range(args.repeats):
                    out = Path(tmp) / f"out_{crop}_{w}_{r}"
                    t = time.perf_counter()
                    s = prepare([src], out, size=args.size, crop=crop, workers=w, progress=False, verbose=False)
                    sec = time.perf_counter() - t
                    best = sec if best is None else min(best, sec)
                    assert s.num_prepared == args.n, s.reasons
                rows.append({"crop": crop, "workers": w, "n": args.n, "seconds": round(best, 3),
                             "images_per_s": round(args.n / best, 1)})

    print(f"\n{'crop':<10} {'workers':>7} {'n':>6} {'seconds':>8} {'images/s':>9}")
    for r in rows:
        print(f"{r['crop']:<10} {r['workers']:>7} {r['n']:>6} {r['seconds']:>8.2f} {r['images_per_s']:>9.1f}")
    result = {
        "benchmark": "prepare",
        "n": args.n,
        "size": args.size,
        "generate_seconds": round(gen_s, 2),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "note": "wall time of prepare() incl. process start-up (spawn); images are 160-400 px synthetic faces",
        "rows": rows,
    }
    atomic_write_json(args.out, result)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
