"""The beauty kit's picture grid for docs/beauty.md: every effect of issue 20 at two strengths on two faces.

    python tools/beauty_grid.py      # writes docs/images/beauty_grid.jpg (< 400 KB)

The two largest faces of the shipped demo photo, the photo enlarged 3x (its faces are ~60 px
across the eyes; at that size an eyeliner is one pixel), landmarks by the shipped starter model on
the enlarged photo, each effect applied by `pipnet106.retouch` to the whole enlarged photo, then
the face cropped. Rows: effects; columns: face A at 0 / 0.5 / 1, face B at 0 / 0.5 / 1 (shape
effects at -1 / +1 instead of 0.5 / 1, so both directions show).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipnet106.fileio import atomic_write_bytes
from pipnet106.infer.landmarker import Landmarker
from pipnet106.retouch import Adjustments, retouch

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "pipnet106" / "assets" / "demo" / "group4.jpg"
OUT = ROOT / "docs" / "images" / "beauty_grid.jpg"
COLOUR = ("skin_tone", "teeth_whiten", "eye_brighten", "under_eye", "eyeliner", "eyeshadow", "brow_tint", "lens")
SHAPE = ("v_face", "cheekbone", "forehead", "eye_tilt")
TILE, LABEL, ENLARGE = 180, 120, 3


def _crop(img: np.ndarray, box, size: int = TILE) -> np.ndarray:
    x0, y0, x1, y1 = box
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2 - 0.08 * (y1 - y0)])
    half = 0.72 * max(x1 - x0, y1 - y0)
    a = np.clip(np.round(c - half).astype(int), 0, None)
    b = np.round(c + half).astype(int)
    return cv2.resize(img[a[1]:b[1], a[0]:b[0]], (size, size), interpolation=cv2.INTER_AREA)


def _label(text: str, sub: str = "") -> np.ndarray:
    tile = np.full((TILE, LABEL, 3), 255, np.uint8)
    cv2.putText(tile, text, (6, TILE // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if sub:
        cv2.putText(tile, sub, (6, TILE // 2 + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    return tile


def main() -> None:
    img = cv2.imread(str(DEMO))
    img = cv2.resize(img, None, fx=ENLARGE, fy=ENLARGE, interpolation=cv2.INTER_CUBIC)
    lm = Landmarker.default()
    faces = sorted(lm.predict(img), key=lambda f: -(f.box[2] - f.box[0]))[:2]
    rows = []
    for name in COLOUR + SHAPE:
        values = (-1.0, 1.0) if name in SHAPE else (0.5, 1.0)
        outs = [retouch(img, faces, Adjustments(**{name: v})) for v in values]
        tiles = [_label(name, " / ".join(f"{v:g}" for v in (0.0, *values)))]
        for f in faces:
            tiles += [_crop(img, f.box)] + [_crop(o, f.box) for o in outs]
        rows.append(np.hstack(tiles))
    grid = np.vstack(rows)
    ok, buf = cv2.imencode(".jpg", grid, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok and len(buf) < 400_000, len(buf)
    atomic_write_bytes(OUT, buf.tobytes())
    print(f"{OUT} {grid.shape[1]}x{grid.shape[0]} {len(buf) / 1000:.0f} KB")


if __name__ == "__main__":
    main()
