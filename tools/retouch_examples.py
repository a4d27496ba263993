"""Before/after pictures for the README, made from the shipped demo photo.

    python tools/retouch_examples.py            # writes docs/images/retouch_*.jpg

Every picture is computed: landmarks by the shipped starter model, edits by
`pipnet106.retouch` on the full photo, then face crops enlarged 2x for display.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from pipnet106.fileio import atomic_write_image
from pipnet106.predict import Landmarker
from pipnet106.retouch import PRESETS, SHAPE_PARAMS, Adjustments, face_mask, retouch

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "src" / "pipnet106" / "assets" / "demo" / "group4.jpg"


def crop(img: np.ndarray, box, size: int = 256, pad: float = 0.35) -> np.ndarray:
    """Square crop around a face box (moved inside the image), resized to size x size."""
    x0, y0, x1, y1 = box
    s = int(min(max(x1 - x0, y1 - y0) * (1 + pad), *img.shape[:2]))
    a = int(np.clip((x0 + x1) / 2 - s / 2, 0, img.shape[1] - s))
    b = int(np.clip((y0 + y1) / 2 - s / 2, 0, img.shape[0] - s))
    return cv2.resize(img[b:b + s, a:a + s], (size, size), interpolation=cv2.INTER_CUBIC)


def label(panel: np.ndarray, text: str) -> np.ndarray:
    panel = panel.copy()
    cv2.rectangle(panel, (0, panel.shape[0] - 20), (panel.shape[1], panel.shape[0]), (0, 0, 0), -1)
    cv2.putText(panel, text, (4, panel.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    a = ap.parse_args()
    out = Path(a.out)
    img = cv2.imread(str(DEMO))
    lm = Landmarker.default()
    faces = lm.predict(img)
    faces = sorted(faces, key=lambda f: f.box[0])
    # 1) presets on two faces
    rows = []
    for f in (faces[2], faces[3]):
        panels = [label(crop(img, f.box), "original")]
        for name in ("natural", "glam", "strong"):
            panels.append(label(crop(retouch(img, [f], PRESETS[name]), f.box), name))
        rows.append(np.concatenate(panels, axis=1))
    atomic_write_image(out / "retouch_presets.jpg", np.concatenate(rows, axis=0), quality=80)
    # 2) each shape adjustment at -1 and +1
    f = faces[2]
    cols = []
    for name in SHAPE_PARAMS:
        pair = [label(crop(retouch(img, [f], Adjustments(**{name: v})), f.box, size=128, pad=0.2), f"{name} {v:+.0f}")
                for v in (-1.0, 1.0)]
        cols.append(np.concatenate(pair, axis=0))
    grid = np.concatenate(cols, axis=1)
    half = (len(cols) + 1) // 2
    w = cols[0].shape[1]
    grid = np.concatenate([grid[:, :half * w], grid[:, half * w:] if len(cols) % 2 == 0 else
                           np.concatenate([grid[:, half * w:], np.zeros_like(cols[0])], axis=1)], axis=0)
    atomic_write_image(out / "retouch_adjustments.jpg", grid, quality=80)
    # 3) masks
    f = faces[3]
    overlay = img.astype(np.float32)
    for region, color in (("skin", (80, 200, 80)), ("lips", (60, 60, 230)), ("eyes", (230, 160, 40)),
                          ("brows", (200, 60, 200))):
        m = face_mask(f, region, img.shape)[..., None]
        overlay = overlay * (1 - 0.55 * m) + np.array(color, np.float32) * 0.55 * m
    masks = np.concatenate([label(crop(img, f.box), "original"),
                            label(crop(np.clip(overlay, 0, 255).astype(np.uint8), f.box), "skin lips eyes brows")], axis=1)
    atomic_write_image(out / "retouch_masks.jpg", masks, quality=80)
    for p in sorted(out.glob("retouch_*.jpg")):
        print(f"{p} {p.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
