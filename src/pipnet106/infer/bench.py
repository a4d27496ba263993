"""`pipnet106 bench`: milliseconds per face of a model on this machine.

Times, for one or more model files raced side by side (default: the shipped starter ONNX, and
its int8 export when the package ships one; or e.g. `--weights m.onnx m_int8.onnx`):
  network   the backend call on ready crops (preprocessing + network + decoding)
  pipeline  crop from boxes + network + mapping back to source pixels, per face
  parts     for a model file with part models (the local stage): the whole pipeline with them;
            `pipeline` and `overhead` are then measured without them, so they keep their meaning
  detector  the face detector on the whole demo photo, per image
at batch 1 and 8 and 1 and 2 threads (the detector, too, runs on that many threads).
`overhead` is pipeline / network - 1, both timed in the same round-robin loop. For the bare
network without preprocessing/decoding and other architectures, see benchmarks/infer_speed.py;
for the overhead before and after a change, and in a one-face video loop,
benchmarks/pipeline_overhead.py.
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
    different runtimes (onnxruntime's spin after a call unless the session stops them, as the
    package's sessions do, `backends.ORT_CONFIG`; OpenMP's, e.g. PyTorch's, spin too) then do not
    slow the next contender down, which on 2 cores would otherwise dominate.
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


def default_models() -> list[Path]:
    """The shipped starter, and its int8 twin when the package ships one (raced side by side)."""
    from ..constants import STARTER_INT8_ONNX, STARTER_ONNX

    return [STARTER_ONNX] + ([STARTER_INT8_ONNX] if STARTER_INT8_ONNX.is_file() else [])


def model_labels(paths: list[Path]) -> dict[Path, str]:
    """A row label per model file: its name, with as many parent folders as it takes to tell it
    from other files of the same name (every run's checkpoint is a `best.pt`)."""
    labels = {}
    for p in paths:
        same = [q for q in paths if q.name == p.name and q != p]
        depth = 1
        while depth < len(p.parts) and any(q.parts[-depth:] == p.parts[-depth:] for q in same):
            depth += 1
        labels[p] = "/".join(p.parts[-depth:])
    return labels


def bench(weights=None, batches=(1, 8), threads=(1, 2), repeats: int = 30, parts=None) -> list[dict]:
    """Rows of ms/face per model, threads and batch; several models (e.g. float and int8 exports of
    one checkpoint) are timed round-robin in the same loop (`race`), so their ratio is fair.
    `parts`: part model files (or "starter") every model runs with, as `predict --parts` does."""
    from ..constants import DEMO_PHOTO
    from ..detect import get_detector
    from ..fileio import read_image
    from .backends import load_parts
    from .landmarker import Landmarker

    if weights is None:
        paths = default_models()
    else:
        paths = [Path(w) for w in ([weights] if isinstance(weights, (str, Path)) else weights)]
    image = read_image(DEMO_PHOTO)
    label = model_labels(paths)
    rows = []
    for th in threads:
        kw = {} if parts is None else {"parts": load_parts(parts, threads=th)}
        lms = {p: Landmarker.from_path(p, threads=th, **kw) for p in paths}
        # the same model without its part models: `pipeline` stays face network + crop + mapping back
        bare = {p: Landmarker.from_path(p, threads=th, parts=()) if lm.parts is not None else lm
                for p, lm in lms.items()}
        boxes, _ = next(iter(lms.values())).detect(image)
        rng = np.random.default_rng(0)
        for b in batches:
            crops = {p: rng.integers(0, 256, (b, lm.size, lm.size, 3), dtype=np.uint8) for p, lm in lms.items()}
            sel = np.resize(boxes, (b, 4))  # b boxes from the photo (repeated when it has fewer faces)
            # network and pipeline in one round-robin: timed apart, a change in the machine's speed
            # between the two loops (other processes, frequency) read as +-20% of "overhead"
            fns = {}
            for p, lm in lms.items():
                fns[p, "net"] = lambda lm=lm, c=crops[p]: lm.inference(c)
                fns[p, "pipe"] = lambda lm=bare[p], s=sel: lm.landmarks_for_boxes(image, s, refine=False)
                if lm.parts is not None:
                    fns[p, "parts"] = lambda lm=lm, s=sel: lm.landmarks_for_boxes(image, s, refine=False)
            ms = race(fns, repeats, block=4)
            net, pipe = {p: ms[p, "net"] for p in lms}, {p: ms[p, "pipe"] for p in lms}
            for p, lm in lms.items():
                weights_kind = getattr(lm.backend, "meta", {}).get("weights", "float32")
                rows.append({"model": label[p], "weights": weights_kind, "backend": lm.backend.name, "threads": th,
                             "batch": b, "network_ms_per_face": round(net[p] / b, 3),
                             "pipeline_ms_per_face": round(pipe[p] / b, 3),
                             "pipeline_overhead": round(pipe[p] / net[p] - 1, 3),
                             "vs_first": round(net[paths[0]] / net[p], 3)})
                if (p, "parts") in ms:
                    rows[-1]["with_parts_ms_per_face"] = round(ms[p, "parts"] / b, 3)
        det = get_detector("blazeface", threads=th)
        rows.append({"model": "detector (blazeface, default)", "threads": th,
                     "detector_ms_per_image": round(median_ms(lambda: det(image), max(5, repeats // 3)), 1),
                     "image": f"{image.shape[1]}x{image.shape[0]}"})
    return rows


def format_rows(rows: list[dict]) -> str:
    parts = any("with_parts_ms_per_face" in r for r in rows)
    lines = ["| model | weights | threads | batch | network ms/face | pipeline ms/face | overhead | speed vs first |"
             + (" with part models ms/face |" if parts else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if parts else "")]
    for r in rows:
        if "network_ms_per_face" in r:
            with_parts = f" {r['with_parts_ms_per_face']:.2f} |" if "with_parts_ms_per_face" in r else " – |"
            lines.append(f"| {r['model']} | {r['weights']} | {r['threads']} | {r['batch']} | "
                         f"{r['network_ms_per_face']:.2f} | {r['pipeline_ms_per_face']:.2f} | "
                         f"{r['pipeline_overhead'] * 100:+.0f}% | {r['vs_first']:.2f}x |" + (with_parts if parts else ""))
    for r in rows:
        if "detector_ms_per_image" in r:
            lines.append(f"\ndetector (blazeface, {r['threads']} thread{'s' if r['threads'] > 1 else ''}): "
                         f"{r['detector_ms_per_image']:.1f} ms per {r['image']} image")
    return "\n".join(lines)


