"""`pipnet106 bench`: milliseconds per face of a model on this machine.

Times, for one model file (default: the shipped starter ONNX):
  network   the backend call on ready crops (preprocessing + network + decoding)
  pipeline  crop from boxes + network + mapping back to source pixels, per face
  detector  the face detector on the whole demo photo, per image
at batch 1 and 8 and 1 and 2 threads. For the bare network without
preprocessing/decoding and other architectures, see benchmarks/infer_speed.py.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def race(fns: dict, repeats: int, warmup: int = 3, block: int = 1) -> dict[str, float]:
    """Median ms of each function, called round-robin, so that load from other processes on a
    shared machine hits every contender alike; compare their ratios.

    With `block` > 1 each turn is `block` calls of which the first is not timed: thread pools of
    different runtimes (onnxruntime spins its threads after a call, OpenMP too) then do not slow
    the next contender down, which on 2 cores would otherwise dominate.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    rounds = max(1, -(-repeats // max(1, block - 1))) if block > 1 else repeats
    for _ in range(rounds):
        for k, fn in fns.items():
            if block > 1:
                fn()
            for _ in range(max(1, block - 1)):
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def bench(weights: str | None = None, batches=(1, 8), threads=(1, 2), repeats: int = 30) -> list[dict]:
    from .detect import get_detector
    from .fileio import read_image
    from .predict import STARTER_ONNX, Landmarker
    from .demo import DEMO_PHOTO

    path = Path(weights) if weights else STARTER_ONNX
    image = read_image(DEMO_PHOTO)
    rows = []
    for th in threads:
        lm = Landmarker.from_path(path, threads=th)
        boxes, _ = lm.detect(image)
        rng = np.random.default_rng(0)
        for b in batches:
            crops = rng.integers(0, 256, (b, lm.size, lm.size, 3), dtype=np.uint8)
            net = median_ms(lambda: lm.inference(crops), repeats) / b
            sel = np.resize(boxes, (b, 4))  # b boxes from the photo (repeated when it has fewer faces)
            pipe = median_ms(lambda: lm.landmarks_for_boxes(image, sel, refine=False), repeats) / b
            rows.append({"model": path.name, "backend": lm.backend.name, "threads": th, "batch": b,
                         "network_ms_per_face": round(net, 3), "pipeline_ms_per_face": round(pipe, 3),
                         "pipeline_overhead": round(pipe / net - 1, 3)})
        det = get_detector("blazeface", threads=th)
        rows.append({"model": "detector (blazeface, default)", "threads": th,
                     "detector_ms_per_image": round(median_ms(lambda: det(image), max(5, repeats // 3)), 1),
                     "image": f"{image.shape[1]}x{image.shape[0]}"})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = ["| model | backend | threads | batch | network ms/face | pipeline ms/face | overhead |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "network_ms_per_face" in r:
            lines.append(f"| {r['model']} | {r['backend']} | {r['threads']} | {r['batch']} | "
                         f"{r['network_ms_per_face']:.2f} | {r['pipeline_ms_per_face']:.2f} | "
                         f"{r['pipeline_overhead'] * 100:+.0f}% |")
    for r in rows:
        if "detector_ms_per_image" in r:
            lines.append(f"\ndetector (blazeface, {r['threads']} thread{'s' if r['threads'] > 1 else ''}): "
                         f"{r['detector_ms_per_image']:.1f} ms per {r['image']} image")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("bench", help="milliseconds per face of a model (network, whole pipeline, detector)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help=".onnx or .pt (default: the shipped starter ONNX)")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = bench(args.weights, args.batch, args.threads, args.repeats)
    print(format_rows(rows))
    if args.json:
        from .fileio import atomic_write_json

        atomic_write_json(args.json, rows)
    return 0
