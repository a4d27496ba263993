"""Golden pixels for the page's ports of the crop rule (web/src/crop.js), from the Python package.

Writes, into OUT: a random BGR image, the package's crops of it (`crop.CropTransform.apply`: the
bilinear warp and the anti-aliased area crop, faces inside and across the border) and OpenCV's
INTER_AREA resizes (fractional and integer factors), plus cases.json naming them. The browser test
checks the JavaScript gives the same bytes.

    python crop_golden.py OUT
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from pipnet106.crop import CropTransform

CROPS = [(0.73, -20.1, -13.7), (1.41, -100.3, -50.2), (0.52, 3.3, 4.4), (0.31, -10.7, 2.25), (0.12, 30.5, 20.1),
         (0.45, -150.0, -90.0), (0.5, -64.0, -32.0), (0.4999, -80.25, -60.5)]
RESIZES = [(265, 183), (100, 70), (218, 150), (87, 60)]


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(3).integers(0, 256, (301, 437, 3), dtype=np.uint8)
    img.tofile(out / "image.bin")
    cases = {"image": [437, 301], "crops": [], "resizes": []}
    for i, (scale, ox, oy) in enumerate(CROPS):
        CropTransform(scale, ox, oy, 128).apply(img).tofile(out / f"crop{i}.bin")
        cases["crops"].append([scale, ox, oy, 128, f"crop{i}.bin"])
    even = img[:300, :435]  # 435 x 300: the integer factor 5 (fast path) and fractional ones
    for i, (w, h) in enumerate(RESIZES):
        cv2.resize(even, (w, h), interpolation=cv2.INTER_AREA).tofile(out / f"area{i}.bin")
        cases["resizes"].append([w, h, f"area{i}.bin"])
    cv2.resize(even[:, :434], (217, 150), interpolation=cv2.INTER_AREA).tofile(out / "area2x.bin")
    cases["half"] = [434, 300, "area2x.bin"]
    (out / "cases.json").write_text(json.dumps(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
