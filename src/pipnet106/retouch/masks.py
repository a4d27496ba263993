"""Soft masks in [0, 1] drawn from the 106 points: lips, mouth, eyes, brows, face, skin.

Polygons are filled on a reduced grid (about `MASK_RES` pixels per face scale: a
soft mask needs no more), feathered with a Gaussian whose width is a fraction of
the face scale (so a mask looks the same on a small and a large face), and
resized to full resolution only over the region's own box. `face_mask` gives a
whole-image array; `region_mask` gives the box and the mask inside it, which is
what the makeup effects use.

The masks the colour effects use stay inside the face's own region (`own_region`,
the convex hull of its outline): the skin mask is feathered inward from the
outline (0 on it), the lips mask is clipped to the hull (0 outside, rising to 1
over `OWN_RAMP` face scales inside). Lip points that the model put outside its
own face (a turned head, a mouth drawn onto a neighbour's cheek) then colour
nothing outside that face, and neither does the skin smoothing or the blush.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..constants import VISIBLE_MIN
from ..errors import UserError
from ..shape.primitives import smooth_ramp
from ..shape.frame import (CONTOUR, LEFT_BROW_UPPER, RIGHT_BROW_UPPER, LEFT_BROW, LEFT_EYE, MOUTH_INNER, MOUTH_OUTER, RIGHT_BROW, RIGHT_EYE, FaceFrame,
                    face_frame, face_points)

MASK_RES = 160.0   # mask pixels per face scale
REGIONS = ("lips", "mouth", "eyes", "brows", "face", "skin")
# Gaussian sigma of the feather, in units of the face scale: centred on the polygon's edge (0.5 there),
# except skin's, which lies inside the outline (0 on the edge, 0.95 at 2 sigma inside).
FEATHER = {"lips": 0.012, "mouth": 0.012, "eyes": 0.015, "brows": 0.02, "face": 0.04, "skin": 0.025}
FOREHEAD = 0.4     # how far above the brows the face/skin masks reach (face scales)
# holes cut out of the skin mask, grown outward by these fractions of the face scale (lashes, lip line)
EYE_GROW = 0.07
BROW_GROW = 0.04
MOUTH_GROW = 0.04
# `_inside` fills its polygon at this many samples per pixel and averages them: OpenCV's polygon fill
# (anti-aliased or not) covers pixels up to about half a pixel outside the edge, which a ramp as
# steep as the inward ones would turn into a size-dependent shift of the mask
INSIDE_SUPERSAMPLE = 4
OWN_RAMP = 0.03    # face scales inside the face's own region over which the lips mask rises from 0 to 1


def _grow(poly: np.ndarray, by: float) -> np.ndarray:
    """Polygon moved outward from its centre by `by` pixels (every vertex)."""
    c = poly.mean(0)
    d = poly - c
    n = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
    return poly + d / n * by


def face_outline(points: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """Contour 0..32 closed over the forehead: brows' upper edges raised by FOREHEAD scales."""
    up = -frame.v * FOREHEAD * frame.scale
    top = np.concatenate([points[CONTOUR[-1:]], points[RIGHT_BROW_UPPER[::-1]], points[LEFT_BROW_UPPER[::-1]],
                          points[CONTOUR[:1]]]) + up
    return np.concatenate([points[CONTOUR], top])


def own_region(points: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """The face's own region: the convex hull of its outline (contour closed over the forehead).

    The convex hull rather than the outline itself, so a contour that folds in on a turned head
    does not cut into the face; what lies outside it is not this face.
    """
    return cv2.convexHull(face_outline(points, frame).astype(np.float32))[:, 0].astype(np.float64)


def _inside(poly: np.ndarray, size: tuple[int, int], origin: np.ndarray, r: np.ndarray, ramp: float) -> np.ndarray:
    """(h, w) float32: 0 outside the convex `poly`, 1 from about `ramp` canvas pixels inside.

    2 x (the filled polygon blurred by sigma = ramp / 2) - 1, clipped at 0: the blur is 1/2 on an
    edge and below it everywhere outside a convex polygon, so the result is 0 there (within the
    anti-aliasing of the edge pixels) and rises to 0.95 at `ramp` inside, the same shape at any
    face size. The canvas is padded by the blur's reach, so an edge just outside the box still
    pulls the values inside it down.
    """
    h, w = size
    sigma = ramp / 2.0
    pad = int(np.ceil(3.0 * sigma)) + 1
    k = INSIDE_SUPERSAMPLE
    fine = np.zeros(((h + 2 * pad) * k, (w + 2 * pad) * k), np.uint8)
    pts = np.round(((poly - origin) * r + pad + 0.5) * k * 16 - 8).astype(np.int32)
    cv2.fillPoly(fine, [pts], 255, lineType=cv2.LINE_8, shift=4)
    cover = cv2.resize(fine, (w + 2 * pad, h + 2 * pad), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    b = _soft(cover, sigma)[pad:pad + h, pad:pad + w]
    return np.clip(2.0 * b - 1.0, 0.0, 1.0)


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
    if region == "skin":
        # 0 on and outside the face's outline, rising inward (sigma = feather); the holes (eyes,
        # brows, mouth) feathered narrow and grown so they stay 0
        holes = np.zeros((hl, wl), np.float32)
        _fill(off, 1.0, holes, origin, rxy)
        canvas = _inside(on[0], (hl, wl), origin, rxy, 2 * feather * s * rx)
        canvas *= 1.0 - _soft(holes, FEATHER["eyes"] * s * rx)
    else:
        canvas = np.zeros((hl, wl), np.float32)
        _fill(on, 1.0, canvas, origin, rxy)
        _fill(off, 0.0, canvas, origin, rxy)
        canvas = _soft(canvas, feather * s * rx)
    if region == "lips":
        canvas *= _inside(own_region(pts, frame), canvas.shape, origin, rxy, OWN_RAMP * s * rx)
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
    lips and skin are 0 outside the face's own region (`own_region`).
    """
    out = np.zeros(shape[:2], np.float32)
    (x0, y0, x1, y1), m = region_mask(face, region, shape, feather)
    if m.size:
        out[y0:y1, x0:x1] = m
    return out


def polygon_mask(polys: list[np.ndarray], shape: tuple[int, ...], scale: float, *, inward: float = 0.0,
                 feather: float = 0.0, cut: list[np.ndarray] = (), margin: float = 0.0,
                 res: float = MASK_RES) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(box, float32 mask over the box at full resolution) of the union of `polys` (pixel coordinates).

    `inward` > 0 (face scales): each polygon is 0 on and outside its edge and rises to 1 that far
    inside (`_inside`), so nothing beyond the polygon's line changes (the lid line of an eye, the
    inner lip line round the teeth). Otherwise the fill is feathered across its edge (Gaussian
    sigma `feather` face scales, 0.5 on the line). `cut` polygons (anti-aliased fill) are taken
    out: 0 inside them. `margin` (face scales) widens the box. Drawn at about `res` pixels per
    face scale, then resized to the box.
    """
    x0, y0, x1, y1 = _box(list(polys), (3 * feather + margin) * scale + 2, shape)
    if x0 >= x1 or y0 >= y1:
        return (x0, y0, x0, y0), np.zeros((0, 0), np.float32)
    r = min(1.0, res / scale)
    wl, hl = max(1, int(np.ceil((x1 - x0) * r))), max(1, int(np.ceil((y1 - y0) * r)))
    rxy = np.array([wl / (x1 - x0), hl / (y1 - y0)])
    rx = float(rxy[0])
    origin = np.array([x0, y0], np.float64) + 0.5 / rxy
    if inward > 0:
        canvas = np.zeros((hl, wl), np.float32)
        for p in polys:
            canvas = np.maximum(canvas, _inside(p, (hl, wl), origin, rxy, inward * scale * rx))
    else:
        canvas = np.zeros((hl, wl), np.float32)
        _fill(list(polys), 1.0, canvas, origin, rxy)
        canvas = _soft(canvas, feather * scale * rx)
    if len(cut):
        holes = np.zeros((hl, wl), np.float32)
        _fill(list(cut), 1.0, holes, origin, rxy)
        canvas *= 1.0 - holes
    m = np.clip(canvas, 0.0, 1.0)
    if m.shape != (y1 - y0, x1 - x0):
        m = cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return (x0, y0, x1, y1), m


VIS_RADIUS = 0.12   # face scales: how far from an occluded point its effects fade ...
VIS_INNER = 0.06    # ... and within how far they are gone entirely (x the point's hidden fraction)
VIS_HIDDEN = 0.02   # points hidden by less than this (visibility above 0.49) count as fully visible
VIS_WARP_RADIUS = 0.35  # face scales: a warp fades over a wider ring (a steep fade would compress the
                        # image there and make the fold-over guard shrink the whole face's field)


def visible_weight_at(points: np.ndarray, visibility: np.ndarray | None, scale: float, xs: np.ndarray,
                      ys: np.ndarray, radius: float = VIS_RADIUS) -> np.ndarray | None:
    """(len(ys), len(xs)) float32 weight in [0, 1] on the grid of continuous coordinates xs x ys that
    fades edits near occluded points, or None.

    1 - max over points of hidden x f(d), f = 1 within VIS_INNER face scales of the point, falling
    smoothly to 0 at `radius` face scales: a point hidden by a hand takes the edit off its
    neighbourhood (lipstick is not painted on the fingers over the lips; a cheek warp does not drag
    the hand). hidden = 1 - visibility / VISIBLE_MIN, clipped to [0, 1]: a model's visibility is a
    probability, and uncovered points read 0.8-0.99, so only points it calls covered (below
    VISIBLE_MIN) fade anything, fully at 0 and half at VISIBLE_MIN / 2. None when the face has no
    visibility or no covered point, so the retouch is then exactly what it is without visibility.
    """
    if visibility is None:
        return None
    hidden = np.clip(1.0 - np.asarray(visibility, np.float64).reshape(-1) / VISIBLE_MIN, 0.0, 1.0)
    idx = np.nonzero(hidden > VIS_HIDDEN)[0]
    if not len(idx):
        return None
    lo, hi = VIS_INNER * scale, radius * scale
    out = np.zeros((len(ys), len(xs)), np.float64)
    for i in idx:
        px, py = points[i]
        d = np.sqrt(((xs - px) ** 2)[None, :] + ((ys - py) ** 2)[:, None])
        out = np.maximum(out, hidden[i] * (1.0 - smooth_ramp(d, lo, hi)))
    return (1.0 - out).astype(np.float32)


def visible_weight(points: np.ndarray, visibility: np.ndarray | None, scale: float,
                   box: tuple[int, int, int, int], size: tuple[int, int] | None = None) -> np.ndarray | None:
    """`visible_weight_at` over a box's pixels (h, w), or sampled on a coarser (w, h) grid `size` (an
    effect working at reduced resolution)."""
    x0, y0, x1, y1 = box
    w, h = size or (x1 - x0, y1 - y0)
    xs = x0 + (np.arange(w) + 0.5) * ((x1 - x0) / max(w, 1))
    ys = y0 + (np.arange(h) + 0.5) * ((y1 - y0) / max(h, 1))
    return visible_weight_at(points, visibility, scale, xs, ys)


def faded(mask: np.ndarray, points: np.ndarray, visibility: np.ndarray | None, scale: float,
          box: tuple[int, int, int, int]) -> np.ndarray:
    """`mask` over `box` times the visibility fade (`visible_weight`), or `mask` itself when the face
    has no visibility or every point is visible: what every colour effect blends with."""
    w = visible_weight(points, visibility, scale, box)
    return mask if w is None else mask * w

