"""Retouching on video: frames per second end to end, and shimmer with and without smoothing.

A 1280x720 clip with one face (a face of the shipped demo photo, about 270 px wide,
on a blurred background) held still for --frames frames with fresh pixel noise
(sigma --noise) each frame: any movement of the warp is shimmer. Each frame goes
through detection (first frame and every 30 frames, VideoRetoucher's default; a
third row uses the tracker's continuous scan) + landmarks (tracked) + One-Euro
smoothing + the 'natural' preset (`retouch.VideoRetoucher`).

Shimmer = mean frame-to-frame change of the face's displacement field (sampled on its
coarse grid, where it moves) as a fraction of the face width (contour 0 to 32).

    python benchmarks/retouch_video.py [--frames 90]

Prints a table and writes benchmarks/results/retouch_video.json.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipnet106.fileio import atomic_write_json  # noqa: E402
from pipnet106.infer.landmarker import STARTER_ONNX, Landmarker  # noqa: E402
from pipnet106.retouch import PRESETS  # noqa: E402
from pipnet106.retouch.warp import face_field
from pipnet106.retouch.video import VideoRetoucher, field_shimmer  # noqa: E402
from retouch_speed import portrait  # noqa: E402  (this folder: the same portrait as the speed benchmark)

ROOT = Path(__file__).resolve().parents[1]
GROUP = ROOT / "src" / "pipnet106" / "assets" / "demo" / "group4.jpg"


def frame_720p(lm: Landmarker) -> np.ndarray:
    img = cv2.imread(str(GROUP))
    person = cv2.resize(portrait(540, lm), (540, 720), interpolation=cv2.INTER_AREA)  # 540x720 unless cut by the photo
    canvas = cv2.GaussianBlur(cv2.resize(img, (1280, 720)), (0, 0), 8)
    canvas[:, 370:910] = person
    return canvas


def run(lm, frames, smooth: bool, adj, tracker_kw: dict | None = None) -> dict:
    vr = VideoRetoucher(lm, adj, smooth=smooth, ramp_s=0.3, tracker_kw=dict(tracker_kw or {}))
    prev, shimmer, ramp = None, [], []
    c0, t0 = time.process_time(), time.perf_counter()
    for i, f in enumerate(frames):
        weights = vr.process(f, i / 30).weights
        ramp.append(weights[0] if weights else 0.0)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    # shimmer: rerun the tracker's faces through the field (outside the timed loop)
    vr2 = VideoRetoucher(lm, adj, smooth=smooth, ramp_s=0.0, tracker_kw=dict(tracker_kw or {}))
    for i, f in enumerate(frames):
        faces = vr2.tracker.update(f, i / 30)
        if not faces:
            continue
        fld = face_field(faces[0], adj, f.shape)
        if i >= 10 and prev is not None:
            shimmer.append(field_shimmer(prev, fld, float(np.linalg.norm(faces[0].points[0] - faces[0].points[32]))))
        prev = fld
    return {"smooth": smooth, "tracker_kw": tracker_kw or {}, "fps": len(frames) / secs, "ms_per_frame": 1000 * secs / len(frames),
            "cpu_ms_per_frame": 1000 * cpu / len(frames),
            "detector_calls": vr.tracker.detector_calls, "shimmer": float(np.mean(shimmer)),
            "shimmer_p95": float(np.percentile(shimmer, 95)), "ramp_first_frames": [round(r, 3) for r in ramp[:12]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--noise", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "retouch_video.json"))
    a = ap.parse_args()
    cv2.setNumThreads(a.threads)
    load0 = os.getloadavg()
    lm = Landmarker.from_onnx(STARTER_ONNX, threads=a.threads)
    base = frame_720p(lm).astype(np.int16)
    rng = np.random.default_rng(0)
    frames = [np.clip(base + rng.normal(0, a.noise, base.shape), 0, 255).astype(np.uint8) for _ in range(a.frames)]
    adj = PRESETS["natural"]
    # VideoRetoucher detects new faces in full every 30 frames; the tracker's own default looks for
    # them every frame (one detector pass spread over 10 frames): measured as a third row
    periodic = {"scan_frames": 0, "detect_every": 30}
    scan = {"scan_frames": 10}
    rows = [run(lm, frames, s, adj) for s in (False, True)] + [run(lm, frames, True, adj, scan)]
    # peer in the same run: the same tracking without any retouching
    from pipnet106.infer.video import Tracker

    tr = Tracker(lm, smooth=True, **periodic)
    c0, t0 = time.process_time(), time.perf_counter()
    for i, f in enumerate(frames):
        tr.update(f, i / 30)
    secs = time.perf_counter() - t0
    track_only = {"fps": len(frames) / secs, "ms_per_frame": 1000 * secs / len(frames),
                  "cpu_ms_per_frame": 1000 * (time.process_time() - c0) / len(frames)}
    load1 = os.getloadavg()
    print(f"1280x720, one face, {a.frames} frames, noise sigma {a.noise}, {a.threads} threads; load average "
          f"{load0[0]:.1f} -> {load1[0]:.1f} on {os.cpu_count()} CPUs\n")
    print("| smoothing | frames/s end to end | wall ms/frame | CPU ms/frame | detector runs | shimmer (% of face width) | p95 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        name = ("One-Euro" if r["smooth"] else "off") + (", tracker's continuous scan" if r["tracker_kw"] else "")
        print(f"| {name} | {r['fps']:.1f} | {r['ms_per_frame']:.1f} | "
              f"{r['cpu_ms_per_frame']:.1f} | {r['detector_calls']} | {100 * r['shimmer']:.3f} | "
              f"{100 * r['shimmer_p95']:.3f} |")
    print(f"| tracking only, detection every 30 frames (no retouch, same run) | {track_only['fps']:.1f} | {track_only['ms_per_frame']:.1f} | "
          f"{track_only['cpu_ms_per_frame']:.1f} | {tr.detector_calls} | - | - |")
    print(f"\nretouch share of the frame time (One-Euro, same tracking): "
          f"{1 - track_only['cpu_ms_per_frame'] / rows[1]['cpu_ms_per_frame']:.0%} of CPU time")
    print(f"\nramp-in weights of the first frames: {rows[1]['ramp_first_frames']}")
    atomic_write_json(a.out, {"frames": a.frames, "noise": a.noise, "threads": a.threads, "loadavg_before": load0,
                              "loadavg_after": load1, "cpus": os.cpu_count(), "rows": rows,
                              "tracking_only": track_only})
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
