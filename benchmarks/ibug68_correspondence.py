"""Which 300-W (iBUG 68) points mean which 106 points: human 68-point labels against the starter.

Issue 22 asks for human labels mapped 68 -> 106 "where the points mean the same". This measures it
instead of guessing: on faces with 300-W labels (AFW and the HELEN test split as stored in
`Spinkoo/Face-alignement`, `.pts` files of 68 `x y` lines), the starter is run on the labels' box
(refinement on, as `predict`), and for every 68-point i the script reports the 106 point j nearest
on median, that distance and the mean offset (prediction - label), in % of the labels' outer-eye
distance (36-45), and the same for the proposed map (`PROPOSED`). A pair whose distance is near the
starter's own error on unambiguous points (mouth, eye corners: 2.5-4.5%) means the same point; a
larger distance, or a best match that is not the proposed partner, means the annotations differ.

    python benchmarks/ibug68_correspondence.py /work/data/human/afw/afw /work/data/human/helen/testset

Prints the table and writes benchmarks/results/ibug68_correspondence.json. About 0.1 s per face.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pipnet106 import Landmarker
from pipnet106.crop import points_box
from pipnet106.fileio import atomic_write_json, read_image

ROOT = Path(__file__).resolve().parents[1]

# 68 -> 106 where the names agree: contour every second point (the 68 jaw is sampled half as
# densely), brows' upper edges, nose bridge and the five lower-nose points, eye corners and the
# two lid points each side, the whole mouth
PROPOSED: dict[int, int] = {
    **{i: 2 * i for i in range(17)},
    **{17 + k: 33 + k for k in range(5)}, **{22 + k: 42 + k for k in range(5)},
    **{27 + k: 51 + k for k in range(4)}, **{31 + k: 58 + k for k in range(5)},
    36: 66, 37: 67, 38: 69, 39: 70, 40: 71, 41: 73, 42: 75, 43: 76, 44: 78, 45: 79, 46: 80, 47: 82,
    **{48 + k: 84 + k for k in range(12)}, **{60 + k: 96 + k for k in range(8)},
}


def read_pts(path: Path) -> np.ndarray:
    """68 `x y` lines, with or without the 300-W header (`version:`, `n_points:`, braces)."""
    rows = [ln.split() for ln in path.read_text().splitlines()]
    pts = np.array([[float(t[0]), float(t[1])] for t in rows
                    if len(t) == 2 and t[0][:1] in "0123456789.-"], np.float64)
    if pts.shape != (68, 2):
        raise SystemExit(f"{path}: expected 68 points, found {len(pts)}")
    return pts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", help="folders of images with .pts labels beside them")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ibug68_correspondence.json"))
    a = ap.parse_args()
    lm = Landmarker.default(detector=None)
    labels, preds = [], []
    for folder in map(Path, a.folders):
        for pts_file in sorted(folder.glob("*.pts")):
            image = next((pts_file.with_suffix(e) for e in (".jpg", ".png") if pts_file.with_suffix(e).exists()), None)
            if image is None:
                continue
            lab = read_pts(pts_file)
            labels.append(lab)
            preds.append(lm.predict(read_image(image), boxes=[points_box(lab)])[0].points)
    lab, pred = np.array(labels), np.array(preds)
    iod = np.linalg.norm(lab[:, 36] - lab[:, 45], axis=1)
    dist = np.linalg.norm(lab[:, :, None] - pred[:, None], axis=-1) / iod[:, None, None]   # (faces, 68, 106)
    med = np.median(dist, axis=0)
    rows = []
    for i in range(68):
        j = int(np.argmin(med[i]))
        p = PROPOSED.get(i)
        bias = ((pred[:, j] - lab[:, i]) / iod[:, None]).mean(0)
        rows.append({"ibug68": i, "nearest_106": j, "median_pct": round(100 * float(med[i, j]), 2),
                     "bias_pct": [round(100 * float(v), 2) for v in bias], "proposed_106": p,
                     "proposed_median_pct": None if p is None else round(100 * float(med[i, p]), 2)})
        print(f"68[{i:2d}] -> nearest 106[{j:3d}] {100 * med[i, j]:5.2f}%  bias ({100 * bias[0]:+.1f}, "
              f"{100 * bias[1]:+.1f})%" + ("" if p is None else f"   proposed 106[{p}] {100 * med[i, p]:.2f}%"))
    atomic_write_json(a.out, {"benchmark": "ibug68_correspondence", "faces": len(lab), "folders": a.folders,
                              "median_outer_eye_px": round(float(np.median(iod)), 1), "rows": rows})
    print(f"{len(lab)} faces -> {a.out}")


if __name__ == "__main__":
    main()
