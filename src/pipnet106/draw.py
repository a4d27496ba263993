"""Drawing landmarks, boxes and whole predictions for humans to check (show, eval, predict, video).

Points are coloured by the layout's fine regions so a swapped label order
(e.g. left/right eye) stands out; optional index numbers make the order
itself readable. Drawing never changes the input image.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .layout import Layout, get_layout

# BGR colours per fine region name (shared by every layout that uses these names).
PALETTE: dict[str, tuple[int, int, int]] = {
    "contour": (255, 255, 255),
    "left_brow": (0, 128, 255),
    "right_brow": (0, 215, 255),
    "nose_bridge": (255, 128, 0),
    "nose_lower": (255, 0, 0),
    "left_eye": (0, 255, 0),
    "right_eye": (180, 255, 0),
    "mouth_outer": (0, 0, 255),
    "mouth_inner": (180, 0, 255),
    "left_pupil": (255, 0, 255),
    "right_pupil": (255, 255, 0),
}
# Used for region names not in PALETTE, in order of first use.
_EXTRA = [(128, 128, 255), (128, 255, 128), (255, 128, 128), (0, 255, 255), (128, 0, 128), (0, 128, 128)]
DEFAULT_COLOR = (0, 255, 0)
_SHIFT = 4  # sub-pixel bits for cv2 drawing


def region_colors(layout: Layout) -> list[tuple[int, int, int]]:
    """BGR colour of every point of `layout`, by its fine region."""
    extra: dict[str, tuple[int, int, int]] = {}
    out = []
    for name in layout.region_of():
        if name in PALETTE:
            out.append(PALETTE[name])
        else:
            if name not in extra:
                extra[name] = _EXTRA[len(extra) % len(_EXTRA)]
            out.append(extra[name])
    return out


def _fixed(x: float) -> int:
    """Continuous pixel coordinate -> cv2 fixed-point pixel-centre coordinate."""
    return int(round((x - 0.5) * (1 << _SHIFT)))


def auto_radius(image: np.ndarray) -> int:
    return max(1, int(round(min(image.shape[:2]) / 220)))


def draw_points(image: np.ndarray, points: np.ndarray, layout: Layout | str | None = None,
                numbers: bool = False, radius: int | None = None,
                color: tuple[int, int, int] | None = None) -> np.ndarray:
    """Return a copy of `image` with (N, 2) pixel `points` drawn.

    Colours come from the layout's regions (`PALETTE`) unless `color` is given or the point count
    does not match the layout. `numbers` writes each point's index next to it. Non-finite points
    are skipped.
    """
    out = np.ascontiguousarray(image).copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if isinstance(layout, str):
        layout = get_layout(layout)
    if color is not None or layout is None or layout.num_points != len(pts):
        colors = [tuple(color or DEFAULT_COLOR)] * len(pts)
    else:
        colors = region_colors(layout)
    r = radius if radius is not None else auto_radius(out)
    font_scale = max(0.25, min(out.shape[:2]) / 1600)
    thick = max(1, int(round(font_scale * 2)))
    for i, ((x, y), c) in enumerate(zip(pts, colors)):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        c = tuple(int(v) for v in c)
        cv2.circle(out, (_fixed(x), _fixed(y)), r << _SHIFT, c, -1, cv2.LINE_AA, _SHIFT)
        if numbers:
            org = (int(round(x)) + r + 1, int(round(y)) - r - 1)
            cv2.putText(out, str(i), org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(out, str(i), org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, c, thick, cv2.LINE_AA)
    return out


def draw_box(image: np.ndarray, box: np.ndarray, color: tuple[int, int, int] = (0, 255, 0),
             thickness: int | None = None, label: str | None = None) -> np.ndarray:
    """Return a copy of `image` with box (x0, y0, x1, y1) in pixels drawn, and an optional text label."""
    out = np.ascontiguousarray(image).copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    x0, y0, x1, y1 = [float(v) for v in box]
    t = thickness if thickness is not None else max(1, int(round(min(out.shape[:2]) / 300)))
    color = tuple(int(v) for v in color)
    cv2.rectangle(out, (_fixed(x0), _fixed(y0)), (_fixed(x1), _fixed(y1)), color, t, cv2.LINE_AA, _SHIFT)
    if label:
        scale = max(0.35, min(out.shape[:2]) / 1000)
        org = (int(round(x0)), max(int(round(y0)) - 4, 12))
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), t + 2, cv2.LINE_AA)
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, t, cv2.LINE_AA)
    return out


def draw_legend(image: np.ndarray, layout: Layout | str) -> np.ndarray:
    """Return a copy of `image` with a strip below it naming each fine region in its colour."""
    if isinstance(layout, str):
        layout = get_layout(layout)
    names = list(layout.regions)
    colors = dict(zip(layout.region_of(), region_colors(layout)))
    w = image.shape[1]
    scale = max(0.35, w / 1600)
    line_h = int(round(28 * scale / 0.5))
    cols = max(1, w // max(1, int(200 * scale / 0.5)))
    rows = (len(names) + cols - 1) // cols
    strip = np.zeros((rows * line_h + 6, w, 3), np.uint8)
    for k, name in enumerate(names):
        x = (k % cols) * (w // cols) + 6
        y = (k // cols) * line_h + int(line_h * 0.75)
        cv2.putText(strip, name, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colors[name], 1, cv2.LINE_AA)
    base = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.concatenate([base, strip], axis=0)


def draw_faces(image: np.ndarray, faces: Sequence, numbers: bool = False) -> np.ndarray:
    """Copy of `image` with the box, score and points of every `predict.Face` drawn."""
    canvas = image.copy()
    for f in faces:
        canvas = draw_box(canvas, f.box, label=f"{f.score:.2f}")
        canvas = draw_points(canvas, f.points, f.layout, numbers=numbers)
    return canvas
