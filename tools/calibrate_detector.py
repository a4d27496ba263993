"""Measure how a detector's boxes differ from landmark boxes (provenance of detect calibration).

For labelled faces (images + per-image 106-point .txt labels), runs the detector, matches the
detection nearest the landmark-box centre, and reports, in units of the detector box:
centre shift (dx, dy), size ratios (sw, sh) of the landmark box, mean and std. The means are
the calibration a detector declares (`landmark_box`); the stds are the residual scatter used
by benchmarks/refine_eval.py.

    python tools/calibrate_detector.py IMAGES_DIR LABELS_DIR [--detector blazeface] [--n 600]
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from pipnet106.crop import points_box
from pipnet106.detect import get_detector
from pipnet106.fileio import read_image
from pipnet106.data.formats import read_points_txt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images")
    ap.add_argument("labels")
    ap.add_argument("--detector", default="blazeface")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--names", default=None, help="file of stems to use (e.g. held-out test names)")
    ap.add_argument("--pad", type=float, default=0.0,
                    help="pad each side by this fraction of the image (tight face crops look like no photo)")
    a = ap.parse_args()
    det = get_detector(a.detector)
    stems = (Path(a.names).read_text().split() if a.names else
             sorted(p.stem for p in Path(a.labels).glob("*.txt")))[: a.n]
    rows = []
    for stem in stems:
        img = next(Path(a.images).glob(stem + ".*"), None)
        if img is None:
            continue
        pts = read_points_txt(Path(a.labels) / f"{stem}.txt", 106)
        image = read_image(img)
        p = int(round(a.pad * max(image.shape[:2])))
        if p:
            image = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_CONSTANT, value=(128, 128, 128))
            pts = pts + p
        lb = points_box(pts)
        dets = det(image)
        if not dets:
            continue
        c = np.array([(lb[0] + lb[2]) / 2, (lb[1] + lb[3]) / 2])
        d = min(dets, key=lambda d: np.linalg.norm((d.box[:2] + d.box[2:]) / 2 - c)).box
        w, h = d[2] - d[0], d[3] - d[1]
        rows.append([(c[0] - (d[0] + d[2]) / 2) / w, (c[1] - (d[1] + d[3]) / 2) / h,
                     (lb[2] - lb[0]) / w, (lb[3] - lb[1]) / h])
    r = np.array(rows)
    out = {"detector": a.detector, "faces": len(r), "keys": ["dx", "dy", "sw", "sh"],
           "mean": np.round(r.mean(0), 4).tolist(), "std": np.round(r.std(0), 4).tolist()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
