"""Ray Data recipe (examples/ray_predict.py): images/s with 1 and 2 local workers, against
`pipnet106 predict FOLDER` in one process, and whether the records are identical.

    python benchmarks/ray_throughput.py [--photos ../shared/data/photos] [--n 24]
        -> results/ray_throughput.json

The photos are linked (not copied, never modified) into a temporary folder so all runs read the
same N files. Each Ray actor runs onnxruntime on 1 thread; the single process peer runs on
--threads threads. Ray's start-up is included in its time (a real job pays it once).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "examples"))

from pipnet106.infer.batch import read_shards  # noqa: E402
from pipnet106.fileio import atomic_write_json, is_image_file  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=2, help="threads of the single-process peer")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ray_throughput.json")
    a = ap.parse_args()
    import ray_predict  # examples/ray_predict.py

    from pipnet106.cli import main as cli

    photos = sorted(p for p in a.photos.rglob("*") if p.is_file() and is_image_file(p))[: a.n]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        for p in photos:
            os.symlink(p.resolve(), src / p.name)
        t0 = time.perf_counter()
        cli(["predict", str(src), "--out", str(Path(tmp) / "cli"), "--threads", str(a.threads)])
        secs = time.perf_counter() - t0
        rows.append({"run": f"pipnet106 predict (1 process, {a.threads} threads)", "seconds": secs,
                     "images_per_s": len(photos) / secs, "identical": True})
        lines = (Path(tmp) / "cli" / "predictions.jsonl").read_text().splitlines()
        ref = sorted((json.loads(x) for x in lines), key=lambda r: r["image"])
        for w in a.workers:
            out = Path(tmp) / f"ray{w}"
            res = ray_predict.run(src, out, workers=w, threads=1, batch_size=a.batch_size)
            import ray

            ray.shutdown()
            same = read_shards(out) == ref
            rows.append({"run": f"ray data, {w} worker{'s' if w > 1 else ''} x 1 thread", **res, "identical": same})
            print(f"  {rows[-1]}", file=sys.stderr)
    atomic_write_json(a.out, {"images": len(photos), "photos": str(a.photos), "loadavg": list(os.getloadavg()),
                              "rows": rows})
    print("| run | images/s | seconds | records identical to predict |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['images_per_s']:.2f} | {r['seconds']:.1f} | {'yes' if r['identical'] else 'NO'} |")
    print(f"\n{len(photos)} images; wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
