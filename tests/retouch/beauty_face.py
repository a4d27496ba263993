"""A painted face with known regions for the colour-effect tests (issue 20): exact points, exact colours.

The template's points (`synth.template`) with the mouth opened, drawn on a textured background:
hair behind the forehead, skin with fine noise, darker crescents under the eyes, brows, white
sclera with a brown iris and a black pupil, dark lid lines (lashes) on both lids, red lips and
yellowish teeth. Each region's own pixel mask comes back with the image, drawn independently of
the package's masks, so the tests measure the effects against what was painted.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipnet106.layout import LAPA106
from pipnet106.retouch.masks import face_outline
from pipnet106.shape.frame import (LEFT_BROW, LEFT_EYE, LEFT_INNER, LEFT_OUTER, MOUTH_INNER, MOUTH_OUTER, RIGHT_BROW,
                                   RIGHT_EYE, RIGHT_INNER, RIGHT_OUTER, face_frame)
from pipnet106.synth.faces import template

PUPILS = (LAPA106.landmarks["left_pupil"], LAPA106.landmarks["right_pupil"])


@dataclass
class FaceStub:
    """A face as the landmarker returns it, with what the retouch reads set by hand: points,
    confidences, pose, the reliable flag and per-point visibility."""

    points: np.ndarray
    conf: np.ndarray
    pose: dict | None = None
    reliable: bool = True
    visibility: np.ndarray | None = None

SKIN, HAIR, BROW, LIPS, TEETH = (205, 160, 135), (50, 35, 30), (80, 60, 50), (170, 60, 70), (232, 222, 185)
SCLERA, IRIS = (225, 210, 210), (110, 75, 45)   # RGB; the sclera a little red


def face_points(width: float = 300.0, left: float = 50.0, top: float = 90.0) -> np.ndarray:
    """Template points for a frontal face `width` px jaw to jaw, the mouth opened by 0.06 face widths."""
    t = template()
    p = (t - t.min(0)) * (width / float(np.hypot(*(t[32] - t[0])))) + [left, top]
    inner, outer = p[MOUTH_INNER], p[MOUTH_OUTER]
    mid = inner[:, 1].mean()
    lower_in = inner[:, 1] > mid - 1e-6
    lower_out = outer[:, 1] > outer[:, 1].mean()
    p[MOUTH_INNER[lower_in], 1] += 0.06 * width
    p[MOUTH_OUTER[lower_out], 1] += 0.06 * width
    for i in (MOUTH_INNER[0], MOUTH_INNER[4]):      # the inner corners stay at the corners
        p[i, 1] = mid
    return p


def _poly(mask: np.ndarray, pts: np.ndarray, value: int = 1) -> None:
    cv2.fillPoly(mask, [np.round((pts - 0.5) * 16).astype(np.int32)], value, shift=4)


def painted_face(shape: tuple[int, int] = (500, 400), seed: int = 0, **kw) -> tuple[np.ndarray, np.ndarray, dict]:
    """(BGR image, points, {region name: bool mask}) of one painted face."""
    rng = np.random.default_rng(seed)
    h, w = shape
    pts = face_points(**kw)
    fr = face_frame(pts)
    s = fr.scale
    img = np.zeros((h, w, 3), np.float32)
    img[:] = (70, 120, 80)
    regions: dict[str, np.ndarray] = {}

    def paint(name: str, mask: np.ndarray, rgb) -> None:
        regions[name] = mask.astype(bool)
        img[regions[name]] = rgb[::-1]

    outline = face_outline(pts, fr)
    hair = np.zeros((h, w), np.uint8)
    top = outline[:, 1].min()
    cv2.ellipse(hair, (int(pts[:, 0].mean()), int(top + 0.25 * s)), (int(0.95 * s), int(0.55 * s)), 0, 180, 360, 1, -1)
    face = np.zeros((h, w), np.uint8)
    _poly(face, outline)
    paint("hair", (hair > 0) & (face == 0), HAIR)
    paint("skin", face > 0, SKIN)
    for ring, outer, inner, pupil, brow, name in ((LEFT_EYE, LEFT_OUTER, LEFT_INNER, PUPILS[0], LEFT_BROW, "left"),
                                                 (RIGHT_EYE, RIGHT_OUTER, RIGHT_INNER, PUPILS[1], RIGHT_BROW, "right")):
        ew = float(np.hypot(*(pts[outer] - pts[inner])))
        c = pts[ring].mean(0)
        dark = np.zeros((h, w), np.uint8)
        cv2.ellipse(dark, (int(c[0]), int(c[1] + 0.12 * s)), (int(0.45 * ew), int(0.06 * s)), 0, 0, 360, 1, -1)
        regions[f"{name}_circle"] = dark > 0
        img[dark > 0] *= 0.8
        eye = np.zeros((h, w), np.uint8)
        _poly(eye, pts[ring])
        paint(f"{name}_eye", eye > 0, SCLERA)
        iris = np.zeros((h, w), np.uint8)
        cv2.circle(iris, tuple(np.round((pts[pupil] - 0.5) * 16).astype(int)), int(0.2 * ew * 16), 1, -1, shift=4)
        paint(f"{name}_iris", (iris > 0) & (eye > 0), IRIS)
        pup = np.zeros((h, w), np.uint8)
        cv2.circle(pup, tuple(np.round((pts[pupil] - 0.5) * 16).astype(int)), int(0.07 * ew * 16), 1, -1, shift=4)
        paint(f"{name}_pupil", (pup > 0) & (eye > 0), (15, 10, 10))
        lash = np.zeros((h, w), np.uint8)
        cv2.polylines(lash, [np.round((pts[ring] - 0.5) * 16).astype(np.int32)], True, 1, 2, shift=4)
        paint(f"{name}_lashes", lash > 0, (25, 18, 15))
        b = np.zeros((h, w), np.uint8)
        _poly(b, pts[brow])
        paint(f"{name}_brow", b > 0, BROW)
    lips = np.zeros((h, w), np.uint8)
    _poly(lips, pts[MOUTH_OUTER])
    paint("lips", lips > 0, LIPS)
    teeth = np.zeros((h, w), np.uint8)
    _poly(teeth, pts[MOUTH_INNER])
    paint("teeth", teeth > 0, TEETH)
    names = list(regions)
    for i, name in enumerate(names):      # each region keeps only the pixels that show its own paint
        for later in names[i + 1:]:
            if not later.endswith("_circle"):
                regions[name] = regions[name] & ~regions[later]
    img += rng.normal(0, 3, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), pts, regions
