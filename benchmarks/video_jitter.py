"""Jitter and speed of video tracking, with and without One-Euro smoothing.

A still synthetic face is repeated for --frames frames with fresh pixel noise
(sigma --noise) each frame, so any movement of the predicted points is
jitter. Jitter = mean frame-to-frame point movement / outer-eye distance.
Also reports frames per second of the Tracker and how often the detector ran.

    python benchmarks/video_jitter.py --weights model.onnx

Prints a table and writes benchmarks/results/video_jitter.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipnet106.crop import points_box
from pipnet106.detect import Detection
from pipnet106.predict import Landmarker
from pipnet106.synth import render_face
from pipnet106.video import Tracker


def run(lm: Landmarker, frames: list[np.ndarray], smooth: bool) -> dict:
    tr = Tracker(lm, smooth=smooth)
    pts, t0 = [], time.perf_counter()
    for i, f in enumerate(frames):
        faces = tr.update(f, t=i / 30.0)
        pts.append(faces[0].points if faces else np.full((lm.layout.num_points, 2), np.nan))
    secs = time.perf_counter() - t0
    p = np.stack(pts)[5:]  # let the filter settle
    iod = lm.layout.norm_distance(p).mean()
    move = np.linalg.norm(np.diff(p, axis=0), axis=-1).mean()
    return {"jitter": float(move / iod), "fps": len(frames) / secs, "detector_calls": tr.detector_calls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help=".onnx or .pt trained on synthetic faces")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--noise", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "video_jitter.json"))
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    base, truth = render_face(rng, 480, 360, max_yaw=10, max_roll=10, scale_range=(0.5, 0.6))
    # the detector of this benchmark returns the true landmark box: only landmark jitter is measured
    lm = Landmarker.from_path(a.weights, detector=lambda img: [Detection(points_box(truth))])
    frames = [np.clip(base + rng.normal(0, a.noise, base.shape), 0, 255).astype(np.uint8) for _ in range(a.frames)]
    rows = {"raw": run(lm, frames, smooth=False), "one_euro": run(lm, frames, smooth=True)}
    print(f"{a.frames} frames of a still synthetic face + noise sigma {a.noise}, model {lm.backend.name}")
    print("| smoothing | jitter (NME/frame) | frames/s | detector calls |\n|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['jitter'] * 100:.3f}% | {r['fps']:.1f} | {r['detector_calls']} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"frames": a.frames, "noise": a.noise, **rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
