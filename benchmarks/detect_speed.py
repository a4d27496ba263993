"""Face-detector recall, precision and speed on real photos.

Runs each backend on every photo in --photos (default: ../shared/data/photos
next to the repo), prints a table and writes benchmarks/results/detect.json.
Entries for backends not run this time are kept, so backends that need another
environment (Haar needs OpenCV 4.x) can be added by a second run.

Ground truth: tests/fixtures/photo_faces.json (boxes checked by eye on all 24 photos,
ambiguous regions marked "ignore": a detection there is neither hit nor false alarm).
Small-face recall by size and the cost of the detection pyramid: benchmarks/detect_small_faces.py.

A detection matches an unmatched true face when IoU >= 0.3 (boxes of different
detectors are cut differently; faces do not overlap that much).

    .venv/bin/python benchmarks/detect_speed.py [--photos DIR] [--backends ...] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106.detect import get_detector  # noqa: E402
from pipnet106.detect.base import box_iou  # noqa: E402
from pipnet106.errors import UserError  # noqa: E402
from pipnet106.fileio import atomic_write_json, is_image_file, read_image  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "detect.json"
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"

# name -> (registry name, options)
BACKENDS = {
    "blazeface-full": ("blazeface", {"model": "full"}),  # the default: pyramid for faces >= 24 px
    "blazeface-full-tile512": ("blazeface", {"model": "full", "tile": 512}),  # the previous default
    "blazeface-full-notile": ("blazeface", {"model": "full", "tile": 0}),
    "blazeface-full-tile384": ("blazeface", {"model": "full", "tile": 384}),
    "blazeface-short": ("blazeface", {"model": "short"}),
    "blazeface-full-opencv": ("blazeface", {"model": "full", "engine": "opencv"}),
    "haar-default": ("haar", {"cascade": "default"}),
    "haar-alt2": ("haar", {"cascade": "alt2"}),
    "mediapipe-full": ("mediapipe", {"model": "full"}),
}
DEFAULT_BACKENDS = ["blazeface-full", "blazeface-full-tile512", "blazeface-full-notile", "blazeface-full-tile384", "blazeface-short",
                    "blazeface-full-opencv", "haar-default", "haar-alt2"]

# verified boxes of all 24 photos (shared with benchmarks/detect_small_faces.py; see the fixture's "about")
GT = json.loads((ROOT / "tests" / "fixtures" / "photo_faces.json").read_text())["photos"]
CROWD_REFERENCE: dict[str, int] = {}  # every photo is checked now (crowd photos included)
MATCH_IOU = 0.3


def match(dets, truth: dict) -> tuple[int, int, int]:
    """(hits, misses, false alarms) for one photo; detections in 'ignore' regions do not count."""
    faces = np.array(truth["faces"], dtype=np.float64).reshape(-1, 4)
    ignore = np.array(truth.get("ignore", []), dtype=np.float64).reshape(-1, 4)
    used = np.zeros(len(faces), dtype=bool)
    hits = fa = 0
    for d in sorted(dets, key=lambda d: -d.score):
        iou = box_iou(d.box, faces) if len(faces) else np.zeros(0)
        iou[used] = -1
        if len(iou) and iou.max() >= MATCH_IOU:
            used[int(iou.argmax())] = True
            hits += 1
            continue
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        in_ignore = any(g[0] <= cx <= g[2] and g[1] <= cy <= g[3] for g in ignore) or (
            len(ignore) and box_iou(d.box, ignore).max() >= MATCH_IOU)
        if not in_ignore:
            fa += 1
    return hits, int(len(faces) - used.sum()), fa


def bench(label: str, det, photos: list[Path], repeats: int) -> dict:
    hits = misses = fas = 0
    times = []
    crowd = {}
    for p in photos:
        img = read_image(p)
        dets = det(img)  # warm-up and the result that is scored
        t = []
        for _ in range(repeats):
            s = time.perf_counter()
            det(img)
            t.append(time.perf_counter() - s)
        times.append(statistics.median(t) * 1000)
        if p.name in GT:
            h, m, f = match(dets, GT[p.name])
            hits, misses, fas = hits + h, misses + m, fas + f
        elif p.name in CROWD_REFERENCE:
            crowd[p.name] = len(dets)
    n_true = hits + misses
    return {
        "backend": label,
        "photos": len(photos),
        "checked_photos": sum(p.name in GT for p in photos),
        "true_faces": n_true,
        "hits": hits,
        "false_alarms": fas,
        "recall": round(hits / n_true, 4) if n_true else None,
        "precision": round(hits / (hits + fas), 4) if hits + fas else None,
        "ms_per_image_median": round(statistics.median(times), 1),
        "ms_per_image_mean": round(statistics.fmean(times), 1),
        "crowd_detections": sum(crowd.values()),
        "crowd_reference": sum(CROWD_REFERENCE[k] for k in crowd),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS if DEFAULT_PHOTOS.is_dir() else None,
                    help=f"folder of photos (default {DEFAULT_PHOTOS} when it exists)")
    ap.add_argument("--backends", nargs="+", default=DEFAULT_BACKENDS, choices=sorted(BACKENDS))
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per photo (median taken)")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads for BlazeFace (default 1)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.photos is None or not args.photos.is_dir():
        print(f"error: photo folder not found: {args.photos} (pass --photos DIR)", file=sys.stderr)
        return 2
    photos = sorted((p for p in args.photos.iterdir() if is_image_file(p)), key=lambda p: p.name)
    if not photos:
        print(f"error: no images in {args.photos}", file=sys.stderr)
        return 2

    import cv2

    env = {"python": platform.python_version(), "opencv": cv2.__version__, "cpu_count": os.cpu_count(),
           "machine": platform.machine(),
           "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        env["onnxruntime"] = None
    rows = []
    for label in args.backends:
        name, opts = BACKENDS[label]
        opts = dict(opts)
        if name == "blazeface" and opts.get("engine") != "opencv":
            opts["threads"] = args.threads
        try:
            det = get_detector(name, **opts)
        except UserError as e:
            print(f"skip {label}: {e}")
            continue
        row = bench(label, det, photos, args.repeats)
        row["options"] = {k: v for k, v in opts.items()}
        row["env"] = env
        rows.append(row)
        print(f"done {label}: recall {row['recall']}, {row['ms_per_image_median']} ms", flush=True)

    old = {}
    if args.out.is_file():
        try:
            old = {r["backend"]: r for r in json.loads(args.out.read_text()).get("rows", [])}
        except (ValueError, KeyError, AttributeError):
            old = {}
    merged = {**old, **{r["backend"]: r for r in rows}}
    hdr = (f"{'backend':<24} {'recall':>6} {'prec':>6} {'hits':>5} {'FA':>4} {'ms med':>7} {'ms mean':>8} "
           f"{'crowd':>11}  opencv")
    print("\n" + hdr)
    for r in merged.values():
        crowd = f"{r['crowd_detections']}/{r['crowd_reference']}"
        rec, prec = (f"{v:.3f}" if v is not None else "-" for v in (r["recall"], r["precision"]))
        print(f"{r['backend']:<24} {rec:>6} {prec:>6} {r['hits']:>5} {r['false_alarms']:>4} "
              f"{r['ms_per_image_median']:>7.1f} {r['ms_per_image_mean']:>8.1f} {crowd:>11}  {r['env']['opencv']}")
    print(f"({len(GT)} checked photos, {sum(len(v['faces']) for v in GT.values())} faces; crowd = detections / "
          f"tiled-MediaPipe count on {len(CROWD_REFERENCE)} crowd photos; ms = median over photos of the "
          f"median of {args.repeats} runs)")
    atomic_write_json(args.out, {"benchmark": "detect", "match_iou": MATCH_IOU, "photos_dir": str(args.photos),
                                 "rows": list(merged.values())})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
