"""Which 300-W (iBUG 68) points mean which 106 points: human 68-point labels against the starter.

Issue 22 asks for human labels mapped 68 -> 106 "where the points mean the same". This measures it
instead of guessing: on faces with 300-W labels (AFW and the HELEN test split as stored in
`Spinkoo/Face-alignement`, `.pts` files of 68 `x y` lines), the starter is run on the labels' box
(refinement on, as `predict`), and for every 68-point i the script reports the 106 point j nearest
on median, that distance and the mean offset (prediction - label), in % of the labels' outer-eye
distance (36-45), and the same for the proposed map (`PROPOSED`). A pair whose distance is near the
starter's own error on unambiguous points (mouth, eye corners: 2.5-4.5%) means the same point; a
larger distance, or a best match that is not the proposed partner, means the annotations differ.

It also measures what `pipnet106.data.convert` (the importer, `prepare --labels-layout ibug68`)
needs and does: the calibration from the 68 labels' box to the 106 points' box (`box_calibration`,
medians of centre shift in box sizes and side ratios) and, for every 106 point the importer labels,
the median distance of its converted label to the starter's point (`converted`; the resampled lid
middles 68, 72, 77, 81 included). Labels are read as the importer reads them (0-based pixels).

    python benchmarks/ibug68_correspondence.py /work/data/human/afw/afw /work/data/human/helen/testset

Prints the table and writes benchmarks/results/ibug68_correspondence.json. About 0.1 s per face.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pipnet106 import Landmarker
from pipnet106.crop import points_box
from pipnet106.data.convert import ibug68_to_lapa106
from pipnet106.data.formats import read_points_pts
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
            lab = read_points_pts(pts_file, 68)
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
    calib, converted = importer_checks(lab, pred, iod)
    atomic_write_json(a.out, {"benchmark": "ibug68_correspondence", "faces": len(lab), "folders": a.folders,
                              "median_outer_eye_px": round(float(np.median(iod)), 1), "rows": rows,
                              "box_calibration": calib, "converted": converted})
    print(f"{len(lab)} faces -> {a.out}")


def importer_checks(lab: np.ndarray, pred: np.ndarray, iod: np.ndarray) -> tuple[list[float], dict]:
    """The 68 box -> 106 box calibration (dx, dy, sw, sh), and per converted 106 point the median
    distance (% outer-eye distance) of the importer's label to the starter's point."""
    lb = np.array([points_box(p) for p in lab])
    pb = np.array([points_box(p) for p in pred])
    lw, lh = lb[:, 2] - lb[:, 0], lb[:, 3] - lb[:, 1]
    dx = ((pb[:, 0] + pb[:, 2]) - (lb[:, 0] + lb[:, 2])) / 2 / lw
    dy = ((pb[:, 1] + pb[:, 3]) - (lb[:, 1] + lb[:, 3])) / 2 / lh
    calib = [round(float(np.median(v)), 4) for v in (dx, dy, (pb[:, 2] - pb[:, 0]) / lw, (pb[:, 3] - pb[:, 1]) / lh)]
    conv = np.array([ibug68_to_lapa106(p)[0] for p in lab])
    d = np.linalg.norm(conv - pred, axis=-1) / iod[:, None]
    labelled = np.isfinite(d).all(axis=0)
    converted = {int(j): round(100 * float(np.median(d[:, j])), 2) for j in np.flatnonzero(labelled)}
    print(f"box calibration 68 -> 106 (dx, dy, sw, sh): {calib}")
    print("converted labels vs starter, median % IOD: " + ", ".join(f"{j}: {v}" for j, v in converted.items()))
    return calib, converted


if __name__ == "__main__":
    main()
