"""How much does the refinement pass recover when boxes are not landmark boxes?

On synthetic faces with exactly known points, compare NME (outer-eye) of:
  gt_crop      one pass from the training crop (landmark box x enlarge) - the ceiling
  box          one pass from a perturbed box (shift, scale, aspect: how a detector's box differs)
  box+refineK  the same box, then K passes each re-cropped from the previous landmarks (default K=2)
  box+refine1 skip<T>  one refinement pass, skipped for faces whose first-pass training crop moved less
               than T (fraction of the crop side) from the box crop (`Landmarker(refine_tol=T)`): its NME,
               the share of faces that still got the second pass and the landmark time per face

    python benchmarks/refine_eval.py --weights runs/synth/best.pt [--n 300]
    python benchmarks/refine_eval.py --weights model.onnx --data PREPARED   # real faces: test split of a
        prepared folder; each face's source photo and its label in source pixels (via manifest.json)

Prints a table and writes benchmarks/results/refine_eval.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipnet106.crop import CropTransform, crop_from_points, points_box
from pipnet106.train.evaluate import nme
from pipnet106.fileio import read_image
from pipnet106.data.formats import read_list
from pipnet106.infer.landmarker import Landmarker
from pipnet106.synth.faces import render_face


def faces(a, rng: np.random.Generator):
    """(image, points in source pixels) pairs: synthetic, or the test split of a prepared folder."""
    if not a.data:
        for _ in range(a.n):
            yield render_face(rng, 256, 256)
        return
    root = Path(a.data)
    manifest = json.loads((root / "manifest.json").read_text())
    by_image = {s["image"]: s for s in manifest["samples"]}
    entries = read_list(root / "test.txt", manifest["num_points"])[: a.n]
    for name, norm in entries:
        s = by_image[name]
        t = CropTransform.from_dict(s["transform"])
        yield read_image(s["source"]), t.to_source(norm * t.size)


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
    ap.add_argument("--data", default=None, help="prepared folder: use its test faces instead of synthetic ones")
    ap.add_argument("--tols", type=float, nargs="*", default=[0.02, 0.04, 0.06, 0.08],
                    help="refinement-skip tolerances to measure (Landmarker refine_tol)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "refine_eval.json"))
    a = ap.parse_args()
    lm = Landmarker.from_path(a.weights, detector=None, threads=a.threads)
    rng = np.random.default_rng(a.seed)
    keys = ["gt_crop", "box", "box+refine1"] + [f"box+refine1 skip{t:g}" for t in a.tols] + ["box+refine2",
                                                                                          "box+refine3"]
    gts, res = [], {k: [] for k in keys}
    secs = {k: 0.0 for k in keys}
    passes = {k: 0 for k in keys}
    count_passes = lm.inference

    def counted(crops, key):
        passes[key] += len(crops)
        return count_passes(crops)

    t0 = time.perf_counter()
    for image, pts in faces(a, rng):
        gts.append(pts)
        t = crop_from_points(pts, lm.size, lm.enlarge)
        p, _ = lm.inference(lm.preprocess(image, [t]))
        res["gt_crop"].append(lm.postprocess(p, [t])[0])
        box = perturb(points_box(pts), rng, a.shift, a.scale, a.aspect)
        for k in keys[1:]:
            refine = 0 if k == "box" else int(k[len("box+refine")])
            lm.refine_tol = float(k.split("skip")[1]) if "skip" in k else 0.0
            lm.inference = lambda crops, k=k: counted(crops, k)
            s0 = time.perf_counter()
            res[k].append(lm.landmarks_for_boxes(image, box[None], refine=refine)[0][0])
            secs[k] += time.perf_counter() - s0
        lm.inference = count_passes
    gt = np.stack(gts)
    n = len(gt)
    table = {k: float(nme(np.stack(v), gt, lm.layout).mean()) for k, v in res.items()}
    refined = {k: (passes[k] - n) / n for k in keys[1:]}
    ms = {k: secs[k] / n * 1000 for k in keys[1:]}
    what = f"{n} {'faces of ' + a.data if a.data else 'synthetic faces'}"
    print(f"{what}, boxes perturbed (shift {a.shift}, scale +-{a.scale}, aspect +-{a.aspect}); "
          f"{time.perf_counter() - t0:.0f} s")
    print("| crop | NME (outer-eye) | vs gt_crop | extra passes per face | landmark ms/face |\n|---|---|---|---|---|")
    for k, v in table.items():
        extra = f"{refined[k]:.2f} | {ms[k]:.2f}" if k in refined else " | "
        print(f"| {k} | {v * 100:.2f}% | {v / table['gt_crop'] * 100 - 100:+.1f}% | {extra} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"weights": a.weights, "n": n, "perturbation": vars(a), "nme": table,
                                       "extra_passes_per_face": refined, "landmark_ms_per_face": ms},
                                      indent=2) + "\n")


if __name__ == "__main__":
    main()
