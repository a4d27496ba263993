"""Measures of a face's parts read from its points: how open the eyes and mouth are, how big an eye
is, where the brows sit.

Two kinds. The openness ratios (`eye_openness`, `mouth_openness`) are scale-free, for apps (blink
and wink detection, "mouth open" triggers): they do not change with the face's size or distance.
The pixel measures (`MEASURES`) are what the follow metric (`train.follow`) compares before and
after a known change of a photo. Every index comes from the layout's named landmarks, so a layout
without them gets None rather than a wrong number.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .layout import LAPA106, Layout


def _dist(p: np.ndarray, lm: dict[str, int], a: str, b: str) -> float:
    return float(np.hypot(*(p[lm[a]] - p[lm[b]])))


def _has(layout: Layout, *names: str) -> bool:
    return all(n in layout.landmarks for n in names)


EYE_SIDES = (("left_upper_lid", "left_lower_lid", "left_eye_outer", "left_eye_inner"),
             ("right_upper_lid", "right_lower_lid", "right_eye_outer", "right_eye_inner"))
"""Per eye (image-view left, then right): the lid middles and the corners."""


def eye_openness(points: np.ndarray, layout: Layout = LAPA106) -> tuple[float, float] | None:
    """(left, right) lid gap / eye width, image-view left first: the middle of the upper lid to the
    middle of the lower lid, over corner to corner. About 0.3 for an open eye, near 0 for a closed
    one; a wink shows as one small value. None for layouts without named lids."""
    if not all(_has(layout, *side) for side in EYE_SIDES):
        return None
    p, lm = np.asarray(points, dtype=np.float64), layout.landmarks
    return tuple(_dist(p, lm, up, lo) / max(_dist(p, lm, out, inn), 1e-9)
                 for up, lo, out, inn in EYE_SIDES)


def mouth_openness(points: np.ndarray, layout: Layout = LAPA106) -> float | None:
    """Inner lip gap / mouth width: the inner lip line's top middle to bottom middle over corner to
    corner. 0 for closed lips, about 0.1-0.2 for talking, 0.4 and more for a wide-open mouth. None
    for layouts without named inner lips."""
    names = ("inner_lip_top", "inner_lip_bottom", "mouth_left", "mouth_right")
    if not _has(layout, *names):
        return None
    p, lm = np.asarray(points, dtype=np.float64), layout.landmarks
    return _dist(p, lm, *names[:2]) / max(_dist(p, lm, *names[2:]), 1e-9)


# ----------------------------------------------------------------------------- pixel measures (LaPa 106)
_LM = LAPA106.landmarks
_REGION = LAPA106.region_index
LEFT_EYE_RING = _REGION("left_eye")[_REGION("left_eye") != _LM["left_eye_centre"]]
RIGHT_EYE_RING = _REGION("right_eye")[_REGION("right_eye") != _LM["right_eye_centre"]]


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def eye_area(p: np.ndarray) -> float:
    """Mean area of the two eye outlines (pixels^2)."""
    return 0.5 * (_area(p[LEFT_EYE_RING]) + _area(p[RIGHT_EYE_RING]))


def eye_opening(p: np.ndarray) -> float:
    """Mean lid-to-lid distance of the two eyes (pixels)."""
    return 0.5 * sum(_dist(p, _LM, up, lo) for up, lo, _, _ in EYE_SIDES)


def mouth_width(p: np.ndarray) -> float:
    return _dist(p, _LM, "mouth_left", "mouth_right")


def mouth_opening(p: np.ndarray) -> float:
    """Inner lip line, top middle to bottom middle (pixels)."""
    return _dist(p, _LM, "inner_lip_top", "inner_lip_bottom")


def lip_height(p: np.ndarray) -> float:
    """Outer lip line, top middle to bottom middle (pixels)."""
    return _dist(p, _LM, "upper_lip_top", "lower_lip_bottom")


def brow_height(p: np.ndarray) -> float:
    """Mean distance of the brows' upper-edge middles above the line through the eye centres (pixels)."""
    a, b = p[_LM["left_eye_centre"]], p[_LM["right_eye_centre"]]
    u = (b - a) / max(np.hypot(*(b - a)), 1e-9)
    v = np.array([-u[1], u[0]])                      # toward the chin
    return float(np.mean([-(p[_LM[k]] - a) @ v for k in ("left_brow_top", "right_brow_top")]))


def jaw_width(p: np.ndarray) -> float:
    """Jaw at about mouth height, side to side (pixels)."""
    return _dist(p, _LM, "left_jaw", "right_jaw")


MEASURES: dict[str, Callable[[np.ndarray], float]] = {
    "eye_area": eye_area, "eye_opening": eye_opening, "mouth_width": mouth_width, "mouth_opening": mouth_opening,
    "lip_height": lip_height, "brow_height": brow_height, "jaw_width": jaw_width}
"""Pixel measures of the LaPa 106 layout by name: what the follow metric compares."""
