"""Do predictions depend on the photo's resolution? Bilinear crops (before) vs area-filtered crops (after).

For each photo, a "large" version (the photo upscaled --upscale times, bicubic: faces of
400-1500 pixels, as from a phone) and the same large photo shrunk back to a quarter
(area filter, as a lower-resolution camera would see it) go through the shipped starter
with the same face boxes (detected once on the large photo, divided by 4 for the small
one), so only the crop differs. Reported per crop mode:

  nme_large_vs_small   mean |points(large)/4 - points(small)| / inter-ocular distance, in %
  shift_px             the same in pixels of the small photo
  crop_ms              one 128 crop from the biggest face (fastest of --repeats), ratio to bilinear
  face_ms              the whole Landmarker on that face with its box (2 crops: refine=1, network, mapping)

A model that sees the same face should give the same points whatever the resolution;
aliasing (warpAffine samples bilinearly even with INTER_AREA) makes them differ.

    .venv/bin/python benchmarks/antialias.py [--photos DIR] [--upscale 4] [--max-photos 12]

Photos: --photos, else ../shared/data/photos next to the repo if present, else the
test fixtures. Prints a table and writes benchmarks/results/antialias.json.
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

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106 import crop  # noqa: E402
from pipnet106.fileio import atomic_write_json, is_image_file, read_image  # noqa: E402
from pipnet106.infer.landmarker import Landmarker  # noqa: E402

# crop mode -> crop.AREA_FILTER_BELOW: bilinear everywhere (before), area filter only when shrinking by
# more than 2 (the package's default), area filter for every shrink
MODES = {"bilinear (before)": 0.0, "area below 0.5 (default)": 0.5, "area below 1": 1.0}


DEFAULT = crop.AREA_FILTER_BELOW


def photos_in(folder: Path, limit: int) -> list[Path]:
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)[:limit]


def crop_ms(image: np.ndarray, t: crop.CropTransform, repeats: int) -> float:
    """Fastest of `repeats` (the machine is shared: the minimum is the least disturbed)."""
    t.apply(image)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        t.apply(image)
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


SIZE_BINS = (0, 200, 500, 1000, 100_000)


def by_size(sizes: list[float], nmes: dict[str, list[float]]) -> list[dict]:
    """Mean NME per face-width bin of the large photo: aliasing matters only for big faces."""
    sz = np.asarray(sizes)
    rows = []
    for lo, hi in zip(SIZE_BINS[:-1], SIZE_BINS[1:]):
        sel = (sz >= lo) & (sz < hi)
        if sel.any():
            rows.append({"face_px": f"{lo}-{hi}" if hi < 100_000 else f">={lo}", "faces": int(sel.sum()),
                         **{m: round(float(np.mean(np.asarray(v)[sel])), 3) for m, v in nmes.items()}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_photos = ROOT.parent / "shared" / "data" / "photos"
    ap.add_argument("--photos", default=str(default_photos if default_photos.is_dir() else ROOT / "tests" / "fixtures"))
    ap.add_argument("--upscale", type=float, default=4.0)
    ap.add_argument("--max-photos", type=int, default=12)
    ap.add_argument("--min-face", type=float, default=24.0, help="ignore faces smaller than this in the small photo")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "antialias.json"))
    a = ap.parse_args()
    cv2.setNumThreads(a.threads)
    lm = Landmarker.default(threads=a.threads, min_face_size=a.min_face * a.upscale)
    given = Landmarker(lm.backend, detector=None)
    shifts: dict[str, list[float]] = {m: [] for m in MODES}
    nmes: dict[str, list[float]] = {m: [] for m in MODES}
    per_photo, n_faces, big_faces, sizes = [], 0, [], []
    base = next(iter(MODES))
    paths = photos_in(Path(a.photos), a.max_photos)
    for path in paths:
        small0 = read_image(path)
        large = cv2.resize(small0, None, fx=a.upscale, fy=a.upscale, interpolation=cv2.INTER_CUBIC)
        small = cv2.resize(large, (large.shape[1] // 4, large.shape[0] // 4), interpolation=cv2.INTER_AREA)
        k = large.shape[1] / small.shape[1]
        crop.AREA_FILTER_BELOW = DEFAULT
        boxes, _ = lm.detect(large)
        if not len(boxes):
            continue
        row = {"photo": path.name, "large": list(large.shape[:2]), "faces": len(boxes),
               "face_px_large": round(float(np.median(boxes[:, 2] - boxes[:, 0])), 1)}
        for mode, below in MODES.items():
            crop.AREA_FILTER_BELOW = below
            pl = np.stack([f.points for f in given.predict(large, boxes=boxes)]) / k
            ps = np.stack([f.points for f in given.predict(small, boxes=boxes / k)])
            d = np.linalg.norm(pl - ps, axis=-1).mean(axis=-1)      # (faces,) mean point distance, small px
            iod = lm.layout.norm_distance(pl)
            shifts[mode] += d.tolist()
            nmes[mode] += (100 * d / iod).tolist()
            if mode == base:
                sizes += (boxes[:, 2] - boxes[:, 0]).tolist()
            row[mode] = round(float(np.mean(100 * d / iod)), 3)
        per_photo.append(row)
        n_faces += len(boxes)
        big_faces.append((large, boxes[0]))
    if not per_photo:
        raise SystemExit(f"no faces found in {a.photos}")
    # cost: one crop of the largest face, each mode
    large, box = max(big_faces, key=lambda lb: lb[1][2] - lb[1][0])
    t = lm.crop_for_box(box)
    cost = {m: float("inf") for m in MODES}
    whole = {m: float("inf") for m in MODES}
    for _ in range(a.repeats):  # interleaved, so a busy spell on the shared machine hits every mode
        for mode, below in MODES.items():
            crop.AREA_FILTER_BELOW = below
            cost[mode] = min(cost[mode], crop_ms(large, t, 3))
            t0 = time.perf_counter()
            given.predict(large, boxes=box[None])
            whole[mode] = min(whole[mode], 1000 * (time.perf_counter() - t0))
    crop.AREA_FILTER_BELOW = DEFAULT
    result = {
        "what": "starter predictions on a large photo vs the same photo at 1/4 size, same boxes",
        "photos_dir": str(a.photos), "photos": len(per_photo), "faces": n_faces, "upscale": a.upscale,
        "model": str(lm.backend.path.name), "input_size": lm.size,
        "crop_scale_of_timed_face": round(t.scale, 4), "timed_face_px": round(float(box[2] - box[0]), 1),
        "by_face_size": by_size(sizes, nmes),
        "modes": {m: {"nme_pct_mean": round(statistics.fmean(nmes[m]), 3),
                      "nme_pct_median": round(statistics.median(nmes[m]), 3),
                      "nme_pct_p90": round(float(np.percentile(nmes[m], 90)), 3),
                      "shift_px_mean": round(statistics.fmean(shifts[m]), 3),
                      "crop_ms": round(cost[m], 3), "crop_ms_ratio": round(cost[m] / cost[base], 2),
                      "face_ms": round(whole[m], 2), "face_ms_ratio": round(whole[m] / whole[base], 2)}
                  for m in MODES},
        "per_photo": per_photo,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": a.threads,
                    "opencv": cv2.__version__, "cores": os.cpu_count()},
    }
    print(f"{len(per_photo)} photos, {n_faces} faces; large = x{a.upscale:g} upscaled, small = large / 4; "
          f"timed crop: {result['timed_face_px']} px face -> {lm.size} (scale {t.scale:.3f})")
    print(f"{'crop mode':21s} {'NME % mean':>10s} {'median':>8s} {'p90':>8s} {'shift px':>9s} {'crop ms':>8s} "
          f"{'ratio':>6s} {'face ms':>8s} {'ratio':>6s}")
    for m, r in result["modes"].items():
        print(f"{m:21s} {r['nme_pct_mean']:10.3f} {r['nme_pct_median']:8.3f} {r['nme_pct_p90']:8.3f} "
              f"{r['shift_px_mean']:9.3f} {r['crop_ms']:8.3f} {r['crop_ms_ratio']:6.2f} {r['face_ms']:8.2f} "
              f"{r['face_ms_ratio']:6.2f}")
    print(f"\nNME % mean by face width in the large photo (crop scale there):")
    print(f"{'face px':>12s} {'faces':>6s} " + " ".join(f"{m:>21s}" for m in MODES))
    for b in result["by_face_size"]:
        print(f"{b['face_px']:>12s} {b['faces']:6d} " + " ".join(f"{b[m]:21.3f}" for m in MODES))
    print(f"-> {atomic_write_json(Path(a.out), result)}")


if __name__ == "__main__":
    main()
