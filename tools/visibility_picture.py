"""docs/images/visibility_mask.jpg: lipstick on a masked face, without and with the starter's
per-point visibility (the face of the group photo that tests/retouch/test_visibility.py masks with
seed 0), the predicted points drawn below (hollow = covered).

    python tools/visibility_picture.py [--out docs/images/visibility_mask.jpg]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pipnet106 import Landmarker
from pipnet106.constants import STARTER_ONNX
from pipnet106.data.occluders import occlude
from pipnet106.draw import draw_points
from pipnet106.fileio import atomic_write_image, read_image
from pipnet106.retouch import Adjustments, retouch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images" / "visibility_mask.jpg"))
    a = ap.parse_args()
    lm = Landmarker.from_path(STARTER_ONNX, threads=1)
    image = read_image(ROOT / "tests" / "fixtures" / "group4.jpg")
    face = lm.predict(image)[0]
    occ, _, _ = occlude(image.copy(), face.points, np.random.default_rng(0), ("mask",))
    seen = lm.predict(occ, boxes=[face.box])[0]
    adj = Adjustments(lipstick=(200, 20, 60), lipstick_amount=1.0)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    pad = (x1 - x0) // 3
    x0, y0, x1, y1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, image.shape[1]), min(y1 + pad, image.shape[0])
    tiles = []
    for title, img in (("without visibility", retouch(occ, [seen.points], adj)),
                       ("with visibility", retouch(occ, [seen], adj)),
                       ("points (hollow = covered)", draw_points(occ, seen.points, visibility=seen.visibility))):
        tile = cv2.resize(img[y0:y1, x0:x1], (300, round(300 * (y1 - y0) / (x1 - x0))), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, title, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    atomic_write_image(a.out, np.hstack(tiles))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
