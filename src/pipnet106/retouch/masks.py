"""Soft masks in [0, 1] drawn from the 106 points: lips, mouth, eyes, brows, face, skin.

Polygons are filled on a reduced grid (about `MASK_RES` pixels per face scale: a
soft mask needs no more), feathered with a Gaussian whose width is a fraction of
the face scale (so a mask looks the same on a small and a large face), and
resized to full resolution only over the region's own box. `face_mask` gives a
whole-image array; `region_mask` gives the box and the mask inside it, which is
what the makeup effects use.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import UserError
from .frame import (CONTOUR, LEFT_BROW, LEFT_EYE, MOUTH_INNER, MOUTH_OUTER, RIGHT_BROW, RIGHT_EYE, FaceFrame,
                    face_frame, face_points)

MASK_RES = 160.0   # mask pixels per face scale
REGIONS = ("lips", "mouth", "eyes", "brows", "face", "skin")
# Gaussian sigma of the feather, in units of the face scale.
FEATHER = {"lips": 0.012, "mouth": 0.012, "eyes": 0.015, "brows": 0.02, "face": 0.04, "skin": 0.04}
FOREHEAD = 0.4     # how far above the brows the face/skin masks reach (face scales)
# holes cut out of the skin mask, grown outward by these fractions of the face scale (lashes, lip line)
EYE_GROW = 0.07
BROW_GROW = 0.04
MOUTH_GROW = 0.04


def _grow(poly: np.ndarray, by: float) -> np.ndarray:
    """Polygon moved outward from its centre by `by` pixels (every vertex)."""
    c = poly.mean(0)
    d = poly - c
    n = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
    return poly + d / n * by


def face_outline(points: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """Contour 0..32 closed over the forehead: brows' upper edges raised by FOREHEAD scales."""
    up = -frame.v * FOREHEAD * frame.scale
    top = np.concatenate([points[[32]], points[[46, 45, 44, 43, 42]], points[[37, 36, 35, 34, 33]], points[[0]]]) + up
    return np.concatenate([points[CONTOUR], top])


def _polygons(points: np.ndarray, frame: FaceFrame, region: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(polygons filled with 1, polygons then cleared to 0) for a region."""
    eyes = [points[LEFT_EYE], points[RIGHT_EYE]]
    brows = [points[LEFT_BROW], points[RIGHT_BROW]]
    if region == "lips":
        return [points[MOUTH_OUTER]], [points[MOUTH_INNER]]
    if region == "mouth":
        return [points[MOUTH_OUTER]], []
    if region == "eyes":
        return eyes, []
    if region == "brows":
        return brows, []
    if region == "face":
        return [face_outline(points, frame)], []
    raise UserError(f"unknown mask region {region!r}; known: {', '.join(REGIONS)}")


def _box(polys: list[np.ndarray], margin: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    allp = np.concatenate(polys)
    h, w = shape[:2]
    x0 = int(max(0, np.floor(allp[:, 0].min() - margin)))
    y0 = int(max(0, np.floor(allp[:, 1].min() - margin)))
    x1 = int(min(w, np.ceil(allp[:, 0].max() + margin)))
    y1 = int(min(h, np.ceil(allp[:, 1].max() + margin)))
    return x0, y0, x1, y1


def _fill(polys: list[np.ndarray], value: float, canvas: np.ndarray, origin: np.ndarray, r: np.ndarray) -> None:
    if polys:
        pts = [np.round((p - origin) * r * 16).astype(np.int32) for p in polys]   # 4 fractional bits
        cv2.fillPoly(canvas, pts, value, lineType=cv2.LINE_AA, shift=4)


def _soft(canvas: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(canvas, (0, 0), sigmaX=max(sigma, 0.3), borderType=cv2.BORDER_REPLICATE) if sigma > 0.3 else canvas


def region_mask_small(face, region: str, shape: tuple[int, ...], res: float = MASK_RES,
                      feather: float | None = None, frame: FaceFrame | None = None
                      ) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(full-resolution box, mask at about `res` pixels per face scale covering that box).

    Resizing the small mask to the box size (bilinear) gives `region_mask`; effects that work at
    reduced resolution use it as it is.
    """
    pts, _ = face_points(face)
    frame = frame or face_frame(face)
    s = frame.scale
    feather = FEATHER.get(region, 0.03) if feather is None else float(feather)
    base = "face" if region == "skin" else region
    on, off = _polygons(pts, frame, base)
    if region == "skin":
        off = [_grow(e, EYE_GROW * s) for e in _polygons(pts, frame, "eyes")[0]]
        off += [_grow(b, BROW_GROW * s) for b in _polygons(pts, frame, "brows")[0]]
        off += [_grow(pts[MOUTH_OUTER], MOUTH_GROW * s)]
    x0, y0, x1, y1 = _box(on, 3 * feather * s + 2, shape)
    if x0 >= x1 or y0 >= y1:
        return (x0, y0, x0, y0), np.zeros((0, 0), np.float32)
    r = min(1.0, res / s)
    wl, hl = max(1, int(np.ceil((x1 - x0) * r))), max(1, int(np.ceil((y1 - y0) * r)))
    rxy = np.array([wl / (x1 - x0), hl / (y1 - y0)])
    rx = float(rxy[0])
    # points are continuous pixel coordinates; OpenCV draws integer coordinates at pixel centres
    origin = np.array([x0, y0], np.float64) + 0.5 / rxy
    canvas = np.zeros((hl, wl), np.float32)
    _fill(on, 1.0, canvas, origin, rxy)
    if region == "skin":
        # the face edge is feathered wide, the holes (eyes, brows, mouth) narrow and grown so they stay 0
        holes = np.zeros_like(canvas)
        _fill(off, 1.0, holes, origin, rxy)
        canvas = _soft(canvas, feather * s * rx) * (1.0 - _soft(holes, FEATHER["eyes"] * s * rx))
    else:
        _fill(off, 0.0, canvas, origin, rxy)
        canvas = _soft(canvas, feather * s * rx)
    return (x0, y0, x1, y1), np.clip(canvas, 0.0, 1.0)


def region_mask(face, region: str, shape: tuple[int, ...], feather: float | None = None,
                frame: FaceFrame | None = None) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(box x0, y0, x1, y1, float32 mask over the box) of one region of one face.

    `feather` is the Gaussian sigma in face scales (default per region, `FEATHER`). The mask is
    1 inside the region, 0 outside, with a soft edge at 0.5 on the polygon line.
    """
    (x0, y0, x1, y1), m = region_mask_small(face, region, shape, MASK_RES, feather, frame)
    if m.size and m.shape != (y1 - y0, x1 - x0):
        m = cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return (x0, y0, x1, y1), m


def face_mask(face, region: str, shape: tuple[int, ...], feather: float | None = None) -> np.ndarray:
    """Whole-image float32 mask (H, W) in [0, 1] of `region` for one face (`Face` or (106, 2) points).

    Regions: lips (outer minus inner mouth, so teeth stay out), mouth (outer, teeth included),
    eyes, brows, face (contour extended over the forehead), skin (face minus eyes, brows, mouth).
    """
    out = np.zeros(shape[:2], np.float32)
    (x0, y0, x1, y1), m = region_mask(face, region, shape, feather)
    if m.size:
        out[y0:y1, x0:x1] = m
    return out
