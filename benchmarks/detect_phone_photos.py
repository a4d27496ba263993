"""The default smallest face on phone-size photos: recall on the shared photos, time and faces on
phone-size copies of them, before (a fixed 24 px) and after (relative to the photo).

Two configurations of `Landmarker.default()` (the whole `predict` pipeline: detection with
proposals, landmarks, one face per face), interleaved photo by photo so that load from other
processes hits both alike:
  fixed24   the former default: BlazeFace's pyramid for faces >= 24 px on every photo
  auto      the default now: 24 px up to 1.44 megapixels, then `MIN_FACE_SHARE` of
            sqrt(width * height) (`detect.blazeface.auto_min_face`; 70 px on 4032x3024)

on each of the 24 shared photos as they are and on a phone-size copy (upscaled with cubic
interpolation so that its long side is --long-side, default 4032: 12 megapixels at 4:3). Ground
truth: tests/fixtures/photo_faces.json, scaled with the copy (a detection matches an unmatched
true face at IoU >= 0.3; "ignore" regions count neither way; benchmarks/detect_small_faces.py).
Times: `Landmarker.predict` on the decoded image (decoding a 12-megapixel JPEG, about 100 ms, is
the same for both), median of --repeats, and the detector's share (`Landmarker.detect`), as wall
time and as the CPU time of the calling thread: with --threads 1 (onnxruntime and OpenCV on one
thread) everything runs on that thread, so its CPU time is what the wall time is on an idle
machine, and it is what the tables show (the machine this ran on was shared).

    python benchmarks/detect_phone_photos.py [--photos DIR] [--long-side 4032] [--repeats 3] [--threads 1]

Prints per-photo and total tables and writes benchmarks/results/detect_phone_photos.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from detect_small_faces import DEFAULT_PHOTOS, load_truth, match  # noqa: E402
from pipnet106 import Landmarker  # noqa: E402
from pipnet106.detect import Detection, get_detector  # noqa: E402
from pipnet106.detect.base import PROPOSAL_SCORE  # noqa: E402
from pipnet106.detect.blazeface import MIN_FACE_SHARE, auto_min_face  # noqa: E402
from pipnet106.fileio import atomic_write_json, read_image  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "detect_phone_photos.json"
CONFIGS = ("fixed24", "auto")
TIMES = ("predict_ms", "predict_wall_ms", "detect_ms", "detect_wall_ms")
"""Per configuration and photo, medians: CPU time of the calling thread (the tables), and wall time."""


def landmarkers(threads: int) -> dict[str, Landmarker]:
    """The two configurations; `fixed24` is today's pipeline with the detector of before."""
    auto = Landmarker.default(threads=threads)
    fixed = Landmarker.default(threads=threads)
    fixed.detector = get_detector("blazeface", min_face_size=24, proposals=PROPOSAL_SCORE, threads=threads)
    return {"fixed24": fixed, "auto": auto}


def phone_copy(image: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """The photo upscaled (cubic) so that its long side is `long_side`, and the scale used."""
    h, w = image.shape[:2]
    s = long_side / max(w, h)
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC), s


def scaled_truth(truth: dict, s: float) -> dict:
    return {k: (np.asarray(v, dtype=np.float64).reshape(-1, 4) * s).tolist() for k, v in truth.items()
            if k in ("faces", "ignore")}


def timed(fn) -> tuple[float, float, object]:
    """(wall ms, calling thread's CPU ms, result) of one call."""
    t, c = time.perf_counter(), time.thread_time()
    out = fn()
    return (time.perf_counter() - t) * 1000, (time.thread_time() - c) * 1000, out


def measure(lms: dict, image: np.ndarray, truth: dict, repeats: int) -> dict:
    """Per configuration: faces, reliable faces, recall, false alarms, predict and detect ms.
    Configurations alternate repeat by repeat."""
    row: dict = {"size": [image.shape[1], image.shape[0]]}
    times: dict[str, dict[str, list[float]]] = {c: {k: [] for k in TIMES} for c in lms}
    faces: dict = {}
    for _ in range(repeats):
        for c, lm in lms.items():
            wall, cpu, faces[c] = timed(lambda: lm.predict(image))
            dwall, dcpu, _ = timed(lambda: lm.detect(image))
            for k, v in zip(TIMES, (cpu, wall, dcpu, dwall)):
                times[c][k].append(v)
    for c, lm in lms.items():
        used, sizes, fa = match([Detection(f.box, f.score) for f in faces[c]], truth)
        row[c] = {"faces": len(faces[c]), "reliable": sum(f.reliable for f in faces[c]),
                  "found": int(used.sum()), "found_24": int(used[sizes >= 24].sum()), "false_alarms": fa,
                  **{k: round(statistics.median(v), 1) for k, v in times[c].items()},
                  "runs": lm.detector.runs(image.shape[1], image.shape[0])}
    row["truth"] = {"faces": len(truth["faces"]),
                    "faces_24": int((np.array([np.sqrt((b[2] - b[0]) * (b[3] - b[1])) for b in truth["faces"]])
                                     >= 24).sum())}
    return row


def totals(rows: dict, key: str) -> dict:
    out = {}
    for c in CONFIGS:
        rs = [r[key] for r in rows.values()]
        n = sum(r[key]["truth"]["faces"] for r in rows.values())
        n24 = sum(r[key]["truth"]["faces_24"] for r in rows.values())
        out[c] = {"faces": sum(r[c]["faces"] for r in rs), "reliable": sum(r[c]["reliable"] for r in rs),
                  "found": sum(r[c]["found"] for r in rs), "recall_all": round(sum(r[c]["found"] for r in rs) / n, 4),
                  "found_24": sum(r[c]["found_24"] for r in rs),
                  "recall_24": round(sum(r[c]["found_24"] for r in rs) / n24, 4),
                  "false_alarms": sum(r[c]["false_alarms"] for r in rs),
                  "predict_ms_mean": round(statistics.fmean(r[c]["predict_ms"] for r in rs), 1),
                  "predict_ms_median": round(statistics.median(r[c]["predict_ms"] for r in rs), 1),
                  "detect_ms_mean": round(statistics.fmean(r[c]["detect_ms"] for r in rs), 1),
                  "predict_wall_ms_mean": round(statistics.fmean(r[c]["predict_wall_ms"] for r in rs), 1),
                  "runs_mean": round(statistics.fmean(r[c]["runs"] for r in rs), 1)}
        out[c]["truth_faces"], out[c]["truth_faces_24"] = n, n24
    return out


def print_tables(rows: dict, summary: dict) -> None:
    print("\n| photo | size / phone size | faces (truth) | fixed24: faces, ms / phone: faces, ms | "
          "auto: faces, ms / phone: faces, ms |")
    print("|---|---|---|---|---|")
    for n, r in rows.items():
        o, p = r["original"], r["phone"]
        print(f"| {n} | {o['size'][0]}x{o['size'][1]} / {p['size'][0]}x{p['size'][1]} | {o['truth']['faces']} | "
              + " | ".join(f"{o[c]['faces']}, {o[c]['predict_ms']:.0f} / {p[c]['faces']}, {p[c]['predict_ms']:.0f}"
                           for c in CONFIGS) + " |")
    print("\n| photos | config | faces returned | reliable | recall >= 24 px | recall all | false alarms | "
          "network runs (mean) | predict ms (mean, CPU) | detect ms (mean, CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in ("original", "phone"):
        for c in CONFIGS:
            t = summary[key][c]
            print(f"| {key} | {c} | {t['faces']} | {t['reliable']} | {t['recall_24']:.3f} "
                  f"({t['found_24']}/{t['truth_faces_24']}) | {t['recall_all']:.3f} ({t['found']}/{t['truth_faces']}) "
                  f"| {t['false_alarms']} | {t['runs_mean']} | {t['predict_ms_mean']:.0f} | "
                  f"{t['detect_ms_mean']:.0f} |")
    for c in CONFIGS:
        print(f"{c}: phone copy / original, mean predict time {summary['phone_vs_original'][c]:.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    ap.add_argument("--long-side", type=int, default=4032)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=None, help="photo names (default: all 24)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if not args.photos.is_dir():
        print(f"error: photo folder not found: {args.photos} (pass --photos DIR)", file=sys.stderr)
        return 2
    cv2.setNumThreads(args.threads)
    truth = load_truth()
    names = [n for n in sorted(truth, key=lambda s: int(Path(s).stem)) if (args.photos / n).is_file()
             and (not args.only or n in args.only)]
    lms = landmarkers(args.threads)
    rows = {}
    for n in names:
        image = read_image(args.photos / n)
        big, s = phone_copy(image, args.long_side)
        rows[n] = {"original": measure(lms, image, truth[n], args.repeats),
                   "phone": measure(lms, big, scaled_truth(truth[n], s), args.repeats)}
        rows[n]["phone"]["auto_min_face"] = round(auto_min_face(big.shape[1], big.shape[0], 24.0), 1)
        print(n, {k: {c: (v[c]["faces"], v[c]["predict_ms"]) for c in CONFIGS} for k, v in rows[n].items()},
              flush=True)
    summary = {"original": totals(rows, "original"), "phone": totals(rows, "phone")}
    summary["phone_vs_original"] = {c: round(summary["phone"][c]["predict_ms_mean"]
                                             / summary["original"][c]["predict_ms_mean"], 2) for c in CONFIGS}
    print_tables(rows, summary)
    env = {"threads": args.threads, "repeats": args.repeats, "long_side": args.long_side,
           "min_face_share": MIN_FACE_SHARE, "cpu_count": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2)}
    atomic_write_json(args.out, {"benchmark": "detect_phone_photos", "env": env, "summary": summary, "per_photo": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
