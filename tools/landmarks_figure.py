"""The README's picture of the 106 points: docs/images/landmarks.jpg.

The shipped starter on the demo photo (`make demo`'s photo): every face as `--draw` draws it, above
one face enlarged with each point's index, coloured by region. Run from the repository root:

    .venv/bin/python tools/landmarks_figure.py [docs/images/landmarks.jpg]
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from pipnet106.constants import DEMO_PHOTO
from pipnet106.draw import draw_faces, draw_outline, draw_points
from pipnet106.fileio import atomic_write_bytes, read_image
from pipnet106.infer.landmarker import Landmarker

WIDTH = 1024          # of the whole figure
ZOOM_SIDE = 720       # the enlarged face, square


def enlarged_face(image: np.ndarray, face) -> np.ndarray:
    """The face's surroundings scaled up to ZOOM_SIDE, with numbered points (drawn after scaling, so
    the numbers stay sharp)."""
    pts = np.asarray(face.points, np.float64)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    side = 1.25 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = ZOOM_SIDE / side
    m = np.array([[s, 0, ZOOM_SIDE / 2 - s * cx], [0, s, ZOOM_SIDE / 2 - s * cy]])
    crop = cv2.warpAffine(image, m, (ZOOM_SIDE, ZOOM_SIDE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    moved = pts * s + m[:, 2]
    crop = draw_outline(crop, moved, face.layout, 1)
    return draw_points(crop, moved, face.layout, numbers=True, radius=2.5, font_scale=0.33)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/images/landmarks.jpg")
    image = read_image(DEMO_PHOTO)
    with Landmarker.default() as lm:
        faces = lm.predict(image)
    group = draw_faces(image, faces)
    group = cv2.resize(group, (WIDTH, round(group.shape[0] * WIDTH / group.shape[1])), interpolation=cv2.INTER_AREA)
    largest = max(faces, key=lambda f: float(np.ptp(np.asarray(f.points)[:, 0])))
    zoom = enlarged_face(image, largest)
    pad = np.full((ZOOM_SIDE, WIDTH, 3), 255, np.uint8)
    left = (WIDTH - ZOOM_SIDE) // 2
    pad[:, left:left + ZOOM_SIDE] = zoom
    figure = np.vstack([group, pad])
    ok, jpg = cv2.imencode(".jpg", figure, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    atomic_write_bytes(out, jpg.tobytes())
    print(f"{out}: {figure.shape[1]}x{figure.shape[0]}, {len(jpg) // 1024} KB, {len(faces)} faces")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
