"""How much does the refinement pass recover when boxes are not landmark boxes?

On synthetic faces with exactly known points, compare NME (outer-eye) of:
  gt_crop      one pass from the training crop (landmark box x enlarge) - the ceiling
  box          one pass from a perturbed box (shift, scale, aspect: how a detector's box differs)
  box+refineK  the same box, then K passes each re-cropped from the previous landmarks (default K=2)

    python benchmarks/refine_eval.py --weights runs/synth/best.pt [--n 300]

Prints a table and writes benchmarks/results/refine_eval.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipnet106.crop import crop_from_points, points_box
from pipnet106.evaluate import nme
from pipnet106.predict import Landmarker
from pipnet106.synth import render_face


def perturb(box: np.ndarray, rng: np.random.Generator, shift: float, scale: float, aspect: float) -> np.ndarray:
    """Detector-like box: centre shifted by N(0, shift*side), side scaled, aspect changed."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    side = max(w, h)
    cx = (x0 + x1) / 2 + rng.normal(0, shift) * side
    cy = (y0 + y1) / 2 + rng.normal(0, shift) * side
    s = rng.uniform(1 - scale, 1 + scale)
    a = rng.uniform(1 - aspect, 1 + aspect)
    w2, h2 = w * s * a, h * s / a
    return np.array([cx - w2 / 2, cy - h2 / 2, cx + w2 / 2, cy + h2 / 2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=12345)
    # defaults: BlazeFace's residual scatter around the landmark box after its calibration, measured on
    # 560 real faces by tools/calibrate_detector.py (std of dx 0.066, dy 0.029, sw 0.061, sh 0.061)
    ap.add_argument("--shift", type=float, default=0.05, help="centre shift std, fraction of the box side")
    ap.add_argument("--scale", type=float, default=0.1, help="side scale range +- (uniform)")
    ap.add_argument("--aspect", type=float, default=0.05, help="aspect change range +- (uniform)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "refine_eval.json"))
    a = ap.parse_args()
    lm = Landmarker.from_path(a.weights, detector=None)
    rng = np.random.default_rng(a.seed)
    gts, res = [], {"gt_crop": [], "box": [], "box+refine1": [], "box+refine2": [], "box+refine3": []}
    t0 = time.perf_counter()
    for _ in range(a.n):
        image, pts = render_face(rng, 256, 256)
        gts.append(pts)
        t = crop_from_points(pts, lm.size, lm.enlarge)
        p, _ = lm.inference(lm.preprocess(image, [t]))
        res["gt_crop"].append(lm.postprocess(p, [t])[0])
        box = perturb(points_box(pts), rng, a.shift, a.scale, a.aspect)
        res["box"].append(lm.landmarks_for_boxes(image, box[None], refine=False)[0][0])
        for k in (1, 2, 3):
            res[f"box+refine{k}"].append(lm.landmarks_for_boxes(image, box[None], refine=k)[0][0])
    gt = np.stack(gts)
    table = {k: float(nme(np.stack(v), gt, lm.layout).mean()) for k, v in res.items()}
    print(f"{a.n} synthetic faces, boxes perturbed (shift {a.shift}, scale +-{a.scale}, aspect +-{a.aspect}); "
          f"{time.perf_counter() - t0:.0f} s")
    print("| crop | NME (outer-eye) | vs gt_crop |\n|---|---|---|")
    for k, v in table.items():
        print(f"| {k} | {v * 100:.2f}% | {v / table['gt_crop'] * 100 - 100:+.1f}% |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"weights": a.weights, "n": a.n, "perturbation": vars(a), "nme": table},
                                      indent=2) + "\n")


if __name__ == "__main__":
    main()
