"""Drawing landmarks, boxes and whole predictions for humans to check (show, eval, predict, video).

Points are coloured by the layout's fine regions so a swapped label order
(e.g. left/right eye) stands out; optional index numbers make the order
itself readable. Drawing never changes the input image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .constants import VISIBLE_MIN
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
                numbers: bool = False, radius: float | None = None,
                color: tuple[int, int, int] | None = None, font_scale: float | None = None,
                visibility: np.ndarray | None = None) -> np.ndarray:
    """Return a copy of `image` with (N, 2) pixel `points` drawn.

    Colours come from the layout's regions (`PALETTE`) unless `color` is given or the point count
    does not match the layout. `numbers` writes each point's index next to it. Non-finite points
    are skipped. `radius` may be fractional (drawn anti-aliased at sub-pixel precision). With
    per-point `visibility`, points below `VISIBLE_MIN` are drawn as rings (hollow): the model thinks
    something covers them.
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
    r = float(radius) if radius is not None else auto_radius(out)
    r_fixed = max(1, int(round(r * (1 << _SHIFT))))
    font_scale = font_scale if font_scale is not None else max(0.25, min(out.shape[:2]) / 1600)
    thick = max(1, int(round(font_scale * 2)))
    step = int(math.ceil(r))
    hollow = np.zeros(len(pts), bool) if visibility is None else np.asarray(visibility).reshape(-1) < VISIBLE_MIN
    ring = max(1, int(round(r / 3)))
    for i, ((x, y), c) in enumerate(zip(pts, colors)):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        c = tuple(int(v) for v in c)
        if hollow[i]:
            cv2.circle(out, (_fixed(x), _fixed(y)), max(r_fixed, 2 << _SHIFT), c, ring, cv2.LINE_AA, _SHIFT)
        else:
            cv2.circle(out, (_fixed(x), _fixed(y)), r_fixed, c, -1, cv2.LINE_AA, _SHIFT)
        if numbers:
            org = (int(round(x)) + step + 1, int(round(y)) - step - 1)
            cv2.putText(out, str(i), org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
            cv2.putText(out, str(i), org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, c, thick, cv2.LINE_AA)
    return out


def draw_box(image: np.ndarray, box: np.ndarray, color: tuple[int, int, int] = (0, 255, 0),
             thickness: int | None = None, label: str | None = None,
             font_scale: float | None = None) -> np.ndarray:
    """Return a copy of `image` with box (x0, y0, x1, y1) in pixels drawn, and an optional text label."""
    out = np.ascontiguousarray(image).copy()
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    x0, y0, x1, y1 = [float(v) for v in box]
    t = thickness if thickness is not None else max(1, int(round(min(out.shape[:2]) / 300)))
    color = tuple(int(v) for v in color)
    cv2.rectangle(out, (_fixed(x0), _fixed(y0)), (_fixed(x1), _fixed(y1)), color, t, cv2.LINE_AA, _SHIFT)
    if label:
        scale = font_scale if font_scale is not None else max(0.35, min(out.shape[:2]) / 1000)
        org = (int(round(x0)), max(int(round(y0)) - 3, int(20 * scale) + 2))
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


@dataclass(frozen=True)
class FaceStyle:
    """Sizes for drawing one face, in proportion to the face so small and large faces read alike."""

    radius: float      # point radius (pixels, may be fractional); 0 = outlines only
    line: int          # outline and box thickness
    font: float        # label font scale

    @classmethod
    def for_size(cls, size: float) -> "FaceStyle":
        """`size`: sqrt(w*h) of the landmark box in pixels. Below 60 px the 106 dots would merge
        into blobs, so a small face gets 1-px outlines only (eyes, brows, nose, lips and jaw stay
        readable shapes at 25 px); larger faces get dots of size/100 px (4 px at 400 px) as well."""
        size = max(float(size), 1.0)
        return cls(radius=0.0 if size < 60 else min(size / 100.0, 12.0), line=max(1, int(round(size / 160.0))),
                   font=min(max(0.3, size / 260.0), 1.5))


def _closed(name: str, n: int) -> bool:
    return "eye" in name or "mouth" in name or ("brow" in name and n >= 9)


def draw_outline(image: np.ndarray, points: np.ndarray, layout: Layout, thickness: int = 1) -> np.ndarray:
    """Copy of `image` with each fine region's points joined (eyes, lips and closed brows as loops),
    in the region's colour: the shape stays readable on faces too small for separate dots."""
    out = np.ascontiguousarray(image).copy()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if layout.num_points != len(pts):
        return out
    colors = dict(zip(layout.region_of(), region_colors(layout)))
    for name, idx in layout.regions.items():
        p = pts[list(idx)]
        if len(p) < 2 or not np.isfinite(p).all() or "pupil" in name:
            continue
        fixed = np.round((p - 0.5) * (1 << _SHIFT)).astype(np.int32)
        c = tuple(int(v) for v in colors[name])
        cv2.polylines(out, [fixed], _closed(name, len(p)), c, thickness, cv2.LINE_AA, _SHIFT)
    return out


UNRELIABLE_COLOR = (0, 140, 255)
"""Box colour (BGR orange) of faces whose `Face.reliable` is False."""


def draw_faces(image: np.ndarray, faces: Sequence, numbers: bool = False) -> np.ndarray:
    """Copy of `image` with the box, label, outline and points of every `predict.Face` drawn.

    Sizes follow each face (`FaceStyle.for_size`), not the image: a 25-px face in a crowd and a
    400-px portrait are both readable. Faces flagged unreliable get an orange box; the label is the
    detector score, plus the track id in video.
    """
    canvas = image.copy()
    for f in faces:
        pts = np.asarray(f.points, dtype=np.float64)
        size = float(f.layout.norm_distance(pts, "bbox")) if np.isfinite(pts).all() else 0.0
        style = FaceStyle.for_size(size)
        reliable = getattr(f, "reliable", True)
        label = f"{f.score:.2f}" + (f" #{f.track_id}" if getattr(f, "track_id", -1) >= 0 else "")
        canvas = draw_box(canvas, f.box, color=(0, 255, 0) if reliable else UNRELIABLE_COLOR,
                          thickness=style.line, label=label, font_scale=style.font)
        canvas = draw_outline(canvas, pts, f.layout, style.line)
        if style.radius > 0 or numbers:
            canvas = draw_points(canvas, pts, f.layout, numbers=numbers, radius=max(style.radius, 0.5),
                                 font_scale=style.font * 0.8, visibility=getattr(f, "visibility", None))
    return canvas
