"""Small-face recall and cost of the BlazeFace detection pyramid on the shared group photos.

Ground truth: tests/fixtures/photo_faces.json (boxes checked by eye on the 24 photos of
../shared/data/photos; see its "about"). A detection matches an unmatched true face when IoU >= 0.3;
detections in "ignore" regions count neither way. Recall is reported for faces >= 24 px (box side
sqrt(w*h)), the goal of the pyramid, and for all faces.

Configurations, all in one run so the times compare (the machine is shared: read the ratios):
  before      the previous default: whole image + fixed 512-px tiles (tile=512)
  whole       the whole image in one run (no windows)
  min24       the new default: pyramid chosen from the image size for faces >= 24 px
  min20/32/48 the same with --min-face-size 20, 32, 48
  pipeline    what `predict` keeps: min24 plus proposals scoring 0.2-0.5 that the starter's landmarks
              confirm (mean point confidence >= 0.45); its time includes the landmark passes

    python benchmarks/detect_small_faces.py [--photos DIR] [--repeats 3] [--threads 1]

Prints per-photo and total tables and writes benchmarks/results/detect_small_faces.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pipnet106.detect import Detection, get_detector  # noqa: E402
from pipnet106.detect.base import box_iou  # noqa: E402
from pipnet106.fileio import atomic_write_json, read_image  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "photo_faces.json"
DEFAULT_PHOTOS = ROOT.parent / "shared" / "data" / "photos"
RESULTS = ROOT / "benchmarks" / "results" / "detect_small_faces.json"
MATCH_IOU = 0.3
SMALL = 24.0

PIPELINE = "pipeline"
"""Not a detector setting: `Landmarker.default()` end to end (min face 24 px, proposals down to score 0.2
kept only when their landmarks are confident), scored on the boxes of the faces it returns."""

CONFIGS = {
    "before": {"tile": 512, "max_tiles": 16},
    "whole": {"tile": 0},
    "min24": {},
    "min20": {"min_face_size": 20},
    "min32": {"min_face_size": 32},
    "min48": {"min_face_size": 48},
    PIPELINE: {},
}


def load_truth(path: Path = FIXTURE) -> dict:
    return json.loads(path.read_text())["photos"]


def face_size(box) -> float:
    return float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))


def match(dets, truth: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """(found per true face, size per true face, false alarms) for one photo."""
    faces = np.array(truth["faces"], dtype=np.float64).reshape(-1, 4)
    ignore = np.array(truth.get("ignore", []), dtype=np.float64).reshape(-1, 4)
    used = np.zeros(len(faces), dtype=bool)
    fa = 0
    for d in sorted(dets, key=lambda d: -d.score):
        iou = box_iou(d.box, faces) if len(faces) else np.zeros(0)
        iou[used] = -1
        if len(iou) and iou.max() >= MATCH_IOU:
            used[int(iou.argmax())] = True
            continue
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        if any(g[0] <= cx <= g[2] and g[1] <= cy <= g[3] for g in ignore):
            continue
        if len(ignore) and box_iou(d.box, ignore).max() >= MATCH_IOU:
            continue
        fa += 1
    return used, np.array([face_size(f) for f in faces]), fa


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per photo and configuration (median)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if not args.photos.is_dir():
        print(f"error: photo folder not found: {args.photos} (pass --photos DIR)", file=sys.stderr)
        return 2
    truth = load_truth()
    names = [n for n in sorted(truth, key=lambda s: int(Path(s).stem)) if (args.photos / n).is_file()]
    dets = {c: get_detector("blazeface", threads=args.threads, **CONFIGS[c]) for c in args.configs if c != PIPELINE}
    if PIPELINE in args.configs:
        from pipnet106 import Landmarker

        lm = Landmarker.default(threads=args.threads)
        lm.detector = get_detector("blazeface", threads=args.threads, proposals=0.2)

        class _Faces:  # the pipeline as a "detector": the boxes of the faces predict() returns
            runs = lm.detector.runs

            def __call__(self, image):
                return [Detection(f.box, f.score) for f in lm.predict(image)]

        dets[PIPELINE] = _Faces()
    images = {n: read_image(args.photos / n) for n in names}
    per_photo: dict[str, dict] = {}
    times: dict[str, dict[str, list[float]]] = {c: {n: [] for n in names} for c in args.configs}
    for n in names:
        img = images[n]
        sizes = np.array([face_size(f) for f in truth[n]["faces"]])
        row = {"size": [img.shape[1], img.shape[0]], "faces": len(sizes), "faces_24": int((sizes >= SMALL).sum())}
        for c, det in dets.items():
            used, sz, fa = match(det(img), truth[n])
            row[c] = {"found": int(used.sum()), "found_24": int(used[sz >= SMALL].sum()), "false_alarms": fa,
                      "runs": det.runs(img.shape[1], img.shape[0])}
        per_photo[n] = row
        for _ in range(args.repeats):  # interleaved so load changes hit every configuration alike
            for c, det in dets.items():
                t = time.perf_counter()
                det(img)
                times[c][n].append((time.perf_counter() - t) * 1000)
        print(f"{n}: {row['faces']} faces ({row['faces_24']} >= 24 px) " + " ".join(
            f"{c} {row[c]['found_24']}/{row['faces_24']}" for c in args.configs), flush=True)

    totals = {}
    big = [n for n in names if images[n].shape[1] == 1024]
    for c in args.configs:
        f24 = sum(r[c]["found_24"] for r in per_photo.values())
        n24 = sum(r["faces_24"] for r in per_photo.values())
        fa = sum(r[c]["found"] for r in per_photo.values())
        nall = sum(r["faces"] for r in per_photo.values())
        ms = {n: statistics.median(v) for n, v in times[c].items()}
        totals[c] = {"recall_24": round(f24 / n24, 4), "found_24": f24, "faces_24": n24,
                     "recall_all": round(fa / nall, 4), "found_all": fa, "faces_all": nall,
                     "false_alarms": sum(r[c]["false_alarms"] for r in per_photo.values()),
                     "ms_median_1024": round(statistics.median(ms[n] for n in big), 1),
                     "ms_mean_all": round(statistics.fmean(ms.values()), 1),
                     "runs_1024x768": dets[c].runs(1024, 768), "options": CONFIGS[c]}
    if "before" in totals:
        for c in totals:
            totals[c]["time_vs_before_1024"] = round(totals[c]["ms_median_1024"] / totals["before"]["ms_median_1024"], 2)

    print("\n| photo | size | faces | >= 24 px | " + " | ".join(f"{c} (>=24 / all)" for c in args.configs) + " |")
    print("|---|---|---|---|" + "---|" * len(args.configs))
    for n, r in per_photo.items():
        cells = " | ".join(f"{r[c]['found_24']} / {r[c]['found']}" for c in args.configs)
        print(f"| {n} | {r['size'][0]}x{r['size'][1]} | {r['faces']} | {r['faces_24']} | {cells} |")
    print("\n| config | recall >= 24 px | recall all | false alarms | runs (1024x768) | ms/photo (1024 px, median) | time vs before |")
    print("|---|---|---|---|---|---|---|")
    for c, t in totals.items():
        print(f"| {c} | {t['recall_24']:.3f} ({t['found_24']}/{t['faces_24']}) | {t['recall_all']:.3f} "
              f"({t['found_all']}/{t['faces_all']}) | {t['false_alarms']} | {t['runs_1024x768']} | "
              f"{t['ms_median_1024']:.1f} | {t.get('time_vs_before_1024', float('nan')):.2f}x |")
    env = {"threads": args.threads, "repeats": args.repeats, "cpu_count": os.cpu_count(),
           "load_avg_1min": round(os.getloadavg()[0], 2)}
    atomic_write_json(args.out, {"benchmark": "detect_small_faces", "match_iou": MATCH_IOU, "env": env,
                                 "totals": totals, "per_photo": per_photo})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
