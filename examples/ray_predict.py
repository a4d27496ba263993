"""Landmarks for a very large photo collection with Ray Data (`pip install ".[ray]"`).

Each Ray worker builds one `pipnet106.infer.batch.BatchPredictor` (the ONNX model is loaded once per
worker) and gets batches of image paths through ``map_batches``; every batch writes its own JSONL
shard into --out, with exactly the records `pipnet106 predict FOLDER` writes. A killed job can be
run again with the same arguments: finished shards are kept and only the rest is predicted.

    python examples/ray_predict.py PHOTOS_DIR --out shards/ --workers 2          # this machine
    python examples/ray_predict.py paths.txt --out s3://bucket/shards ...        # a list of paths

On a cluster: start Ray there (`ray start --head` on one node, `ray start --address=HEAD:6379` on
the others, or a KubeRay / cloud cluster), put the photos and --out on storage every node can read
and write (NFS, or a mounted bucket), and run this script on the head node with
``--address auto`` (or submit it with `ray job submit -- python examples/ray_predict.py ...`).
--workers is then the number of actors in the whole cluster; --threads the onnxruntime threads of
each (give each actor as many CPUs: --threads is also its `num_cpus`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def list_images(src: Path) -> tuple[list[str], Path | None]:
    """A folder (recursive) or a text file with one image path per line -> (paths, root for relative names)."""
    from pipnet106.fileio import is_image_file

    if src.is_dir():
        return sorted(str(p) for p in src.rglob("*") if p.is_file() and is_image_file(p)), src
    lines = [ln.strip() for ln in src.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return lines, None


def run(src: Path, out: Path, workers: int = 2, threads: int = 1, batch_size: int = 16, weights: str | None = None,
        refine: int = 1, address: str | None = None) -> dict:
    import ray

    from pipnet106.infer.batch import BatchPredictor

    paths, root = list_images(src)
    if not paths:
        raise SystemExit(f"{src}: no images")
    ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    t0 = time.perf_counter()
    ds = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=max(1, len(paths) // batch_size))
    summary = ds.map_batches(
        BatchPredictor,
        fn_constructor_kwargs=dict(out_dir=str(out), weights=weights, root=str(root) if root else None,
                                   threads=threads, refine=refine),
        batch_size=batch_size, batch_format="numpy", concurrency=workers, num_cpus=threads,
    ).take_all()
    secs = time.perf_counter() - t0
    images = sum(int(r["images"]) for r in summary)
    res = {"images": images, "faces": sum(int(r["faces"]) for r in summary),
           "errors": sum(int(r["errors"]) for r in summary), "shards": len(summary), "seconds": secs,
           "images_per_s": images / secs}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="folder of photos (searched recursively) or a text file of paths")
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSONL shards")
    ap.add_argument("--workers", type=int, default=2, help="actors (each loads the model once)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads (and CPUs) per actor")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--weights", default=None, help="ONNX model (default: the shipped starter)")
    ap.add_argument("--refine", type=int, default=1)
    ap.add_argument("--address", default=None, help="Ray cluster address ('auto' inside a cluster; default: local)")
    a = ap.parse_args()
    res = run(a.src, a.out, a.workers, a.threads, a.batch_size, a.weights, a.refine, a.address)
    print(f"{res['images']} images, {res['faces']} faces, {res['errors']} unreadable -> {res['shards']} shards in "
          f"{a.out} ({res['seconds']:.1f} s, {res['images_per_s']:.2f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
