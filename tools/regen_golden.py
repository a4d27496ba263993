"""Regenerate the golden predictions of the shipped starter on the shipped photo.

    PYTHONPATH=src python tools/regen_golden.py            # keep the stored boxes
    PYTHONPATH=src python tools/regen_golden.py --redetect # take new boxes from the detector

writes tests/fixtures/golden_group4.json, which tests/infer/test_landmarker_golden.py compares against (0.5 px).
Run it only on purpose: when the starter model, the crop rule or the decoding changed and the new
points are meant. Say in the commit message why the points moved (and by how much: this script
prints the largest change per face).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from pipnet106.fileio import atomic_write_text, read_image
from pipnet106.infer.landmarker import STARTER_ONNX, Landmarker

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "fixtures" / "group4.jpg"
GOLDEN = ROOT / "tests" / "fixtures" / "golden_group4.json"
NOTE = ("Starter ONNX on group4.jpg with these fixed boxes (refine 1). Regenerate only on purpose with "
        "tools/regen_golden.py and say why in the commit.")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def predict(boxes: list[list[float]]) -> tuple[list[list[float]], list[np.ndarray]]:
    """Boxes (in the order the Landmarker returns faces: largest first) and points of the starter:
    the computation the golden test repeats."""
    lm = Landmarker.from_onnx(STARTER_ONNX, detector=None, refine=1)
    faces = lm.predict(read_image(PHOTO), boxes=boxes)
    return [[float(v) for v in f.box] for f in faces], [f.points for f in faces]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--redetect", action="store_true", help="take new boxes from the default detector")
    args = ap.parse_args()
    old = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else None
    if old is None or args.redetect:
        faces = Landmarker.from_onnx(STARTER_ONNX).predict(PHOTO)
        boxes = [[round(float(v)) for v in f.box] for f in faces]  # whole pixels: no hidden decimals
    else:
        boxes = old["boxes"]
    boxes, points = predict(boxes)
    rec = {"note": NOTE, "image": PHOTO.name, "model": STARTER_ONNX.name, "model_sha256": sha256(STARTER_ONNX),
           "refine": 1, "boxes": boxes, "points": [np.round(p, 3).tolist() for p in points]}
    if old is not None and len(old["points"]) == len(points) and old["boxes"] == boxes:
        for i, (a, b) in enumerate(zip(old["points"], points)):
            print(f"face {i}: largest change {np.abs(np.asarray(a) - b).max():.3f} px")
    atomic_write_text(GOLDEN, json.dumps(rec) + "\n")
    print(f"wrote {GOLDEN} ({len(points)} faces)")


if __name__ == "__main__":
    main()
