"""Shape changes as ONE smooth displacement field per face, applied by one remap.

Each change is a few primitives in the face's frame (`shape.frame.FaceFrame`):
 - *move*: a local translation warp (Gustafsson, "Interactive Image Warping"):
   content inside an ellipse moves by a vector, with the falloff (1 - s^2)^2 that
   is 1 at the centre and 0, with zero slope, at the edge;
 - *scale*: content inside an ellipse is scaled about its centre (per axis), with
   the same falloff (big eyes, wider mouth, fuller lips).
All primitives of a face add up into one backward field d (output pixel x shows
source pixel x + d(x)) sampled on a coarse grid (about 24 samples per face
scale), then upsampled bilinearly to the face's region of influence and applied
with a single `cv2.remap` (reflective border). Pixels outside that region are
never written, so they stay byte-identical.

No fold-over: the bilinear upsample has, inside each coarse cell, a Jacobian
determinant that is affine in the cell coordinates, so its minimum is at one of
the cell's corners; `_safe_factor` checks those exactly and, if any |value|
combination would push det(I + grad d) below `MIN_DET`, shrinks the face's field
until it holds. Faces are warped one after the other, each from the previous
result: a composition of one-to-one maps is one-to-one, so overlapping faces
do not tear. Because the map is one-to-one, points move through it exactly too
(`FaceField.forward_points` inverts the backward field).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .frame import FaceFrame


IDLE_SHIFT = 1.0 / 64   # px: a smaller shift rounds to no shift in remap's fixed point


MIN_DET = 0.2            # smallest allowed area ratio of the backward map (1 = no change)


SAMPLES_PER_SCALE = 24   # coarse grid density: samples per face scale (outer-eye distance)


BAND_PX = 128            # rows per remap band (`apply_field`)


@dataclass(frozen=True)
class Primitive:
    """One local deformation in the face frame (pixels): centre (a, b), radii (ra, rb).

    kind 'move': `vec` is how far the content moves (a, b). kind 'lens': a magnifier of strength
    `vec[0]` (content at the centre scaled by 1 + vec[0], falling off as (1 - s)^3; for measuring
    only: training never uses it). kind 'scale': `vec` is the
    relative size change along a and b (0.2 = 20% bigger at the centre).
    """

    kind: str
    centre: tuple[float, float]
    radii: tuple[float, float]
    vec: tuple[float, float]


def _falloff(s2: np.ndarray) -> np.ndarray:
    return np.where(s2 < 1.0, (1.0 - np.minimum(s2, 1.0)) ** 2, 0.0)


def _evaluate(prims: list[Primitive], A: np.ndarray, B: np.ndarray,
              boxes: list[tuple[int, int, int, int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Backward displacement (dA, dB) in the face frame at local coordinates A, B.

    `boxes` (row0, row1, col0, col1 per primitive) limit each primitive to the grid cells its
    ellipse can reach; outside them its falloff is 0 anyway.
    """
    dA = np.zeros_like(A)
    dB = np.zeros_like(B)
    for n, p in enumerate(prims):
        sl = np.s_[:, :] if boxes is None else np.s_[boxes[n][0]:boxes[n][1], boxes[n][2]:boxes[n][3]]
        a, b = A[sl], B[sl]
        if a.size == 0:
            continue
        ca, cb = p.centre
        ra, rb = p.radii
        xa, xb = a - ca, b - cb
        s2 = (xa / ra) ** 2 + (xb / rb) ** 2
        if p.kind == "lens":  # a magnifier: another radial profile, (1 - s)^3, that no training warp uses
            k = p.vec[0]
            g = np.where(s2 < 1.0, (1.0 - np.sqrt(np.minimum(s2, 1.0))) ** 3, 0.0) * (k / (1.0 + k))
            dA[sl] -= xa * g
            dB[sl] -= xb * g
            continue
        f = _falloff(s2)
        if p.kind == "move":
            dA[sl] -= p.vec[0] * f
            dB[sl] -= p.vec[1] * f
        else:  # a content scale of (1 + k) samples the source at (x - c) / (1 + k)
            ka, kb = p.vec
            dA[sl] -= xa * (ka / (1.0 + ka)) * f
            dB[sl] -= xb * (kb / (1.0 + kb)) * f
    return dA, dB


@dataclass
class FaceField:
    """A face's backward displacement on a coarse grid and where it applies.

    Coarse sample (i, j) sits at full-resolution pixel centre x0 + j*step + (step-1)/2 (same for y),
    exactly where `cv2.resize` by a factor `step` puts it, so the upsampled map needs no shift. The
    grid box is one cell wider than `roi` on every side (outside the clamped half cells of the resize).
    """

    x0: int              # top-left of the grid box, image pixels
    y0: int
    step: int
    d: np.ndarray        # (rows, cols, 2) float32 backward displacement in image pixels (dx, dy)
    roi: tuple[int, int, int, int]   # x0, y0, x1, y1: where the field moves a pixel, clipped to the image
    scale: float         # face scale in pixels (for reporting sizes)
    factor: float = 1.0  # < 1 when the fold-over guard had to shrink the field

    def _sample_xy(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.d.shape[:2]
        half = (self.step - 1) / 2.0
        return self.x0 + np.arange(cols) * self.step + half, self.y0 + np.arange(rows) * self.step + half

    def coarse_source(self, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """(rows, cols, 2) float32 source coordinates (pixel centres) at the grid samples.

        Upsampling absolute coordinates directly is exact on their linear identity part
        (bilinear resizing reproduces it), which saves a full-resolution add per axis.
        """
        xs, ys = self._sample_xy()
        coarse = self.d.copy()
        coarse[..., 0] += (xs - offset[0]).astype(np.float32)[None, :]
        coarse[..., 1] += (ys - offset[1]).astype(np.float32)[:, None]
        return coarse

    def source_map(self, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """(H, W, 2) float32 map over `roi`: output pixel shows source pixel map[y, x] (pixel-centre coords)."""
        coarse = self.coarse_source(offset)
        rows, cols = coarse.shape[:2]
        full = cv2.resize(coarse, (cols * self.step, rows * self.step), interpolation=cv2.INTER_LINEAR)
        x0, y0, x1, y1 = self.roi
        return full[y0 - self.y0:y1 - self.y0, x0 - self.x0:x1 - self.x0]

    def upsampled(self) -> tuple[np.ndarray, np.ndarray]:
        """Full-resolution displacement (dx, dy) over `roi`."""
        m = self.source_map()
        x0, y0, x1, y1 = self.roi
        return m[..., 0] - np.arange(x0, x1, dtype=np.float32)[None, :], m[..., 1] - np.arange(y0, y1, dtype=np.float32)[:, None]

    def at(self, pts: np.ndarray) -> np.ndarray:
        """Displacement (N, 2) at image points (bilinear on the coarse grid, 0 outside)."""
        xs, ys = self._sample_xy()
        p = np.asarray(pts, dtype=np.float64) - 0.5    # continuous coords -> pixel-centre coords
        fx = np.clip((p[:, 0] - xs[0]) / self.step, 0, len(xs) - 1.000001)
        fy = np.clip((p[:, 1] - ys[0]) / self.step, 0, len(ys) - 1.000001)
        j, i = np.floor(fx).astype(int), np.floor(fy).astype(int)
        tx, ty = (fx - j)[:, None], (fy - i)[:, None]
        d = self.d.astype(np.float64)
        return ((1 - ty) * ((1 - tx) * d[i, j] + tx * d[i, j + 1]) + ty * ((1 - tx) * d[i + 1, j] + tx * d[i + 1, j + 1]))

    def forward_points(self, pts: np.ndarray, iterations: int = 30, tol: float = 1e-7) -> np.ndarray:
        """Where points of the source image are in the warped one: the x with x + d(x) = p.

        The map is one-to-one (the fold-over guard keeps det(I + grad d) >= MIN_DET), so the
        backward field is inverted exactly, by Newton's method on the bilinear field (its
        Jacobian by central differences; a compressed region, where plain fixed-point
        iteration would diverge, converges as well). Labels mapped this way move exactly with
        the warped pixels (to the remap's 1/32 px).
        """
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        x = p - self.at(p)
        h = 0.25
        ex, ey = np.array([h, 0.0]), np.array([0.0, h])
        for _ in range(iterations):
            r = x + self.at(x) - p
            if not len(x) or float(np.abs(r).max()) < tol:
                break
            jx = (self.at(x + ex) - self.at(x - ex)) / (2 * h)      # d(d)/dx, (N, 2)
            jy = (self.at(x + ey) - self.at(x - ey)) / (2 * h)
            a, b = 1.0 + jx[:, 0], jy[:, 0]                        # I + J = [[a, b], [c, e]]
            c, e = jx[:, 1], 1.0 + jy[:, 1]
            det = a * e - b * c
            det = np.where(np.abs(det) < 1e-9, 1e-9, det)
            x = x - np.stack([(e * r[:, 0] - b * r[:, 1]) / det, (a * r[:, 1] - c * r[:, 0]) / det], axis=1)
        return x.reshape(np.shape(pts))

    def faded(self, weight: np.ndarray) -> "FaceField | None":
        """The field times a per-sample weight in [0, 1] ((rows, cols), e.g. near occluded points),
        shrunk again if needed to stay free of fold-over; None when nothing moves any more. The
        region stays the same (it can only have grown too large)."""
        d = self.d * np.asarray(weight, np.float32)[..., None]
        factor = _safe_factor(d, self.step)
        d = (d * factor).astype(np.float32)
        if not _moving(d).any():
            return None
        return FaceField(self.x0, self.y0, self.step, d, self.roi, self.scale, self.factor * factor)

    def sample_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Continuous image coordinates (xs, ys) of the grid's samples."""
        xs, ys = self._sample_xy()
        return xs + 0.5, ys + 0.5

    def max_displacement(self) -> float:
        return float(np.sqrt((self.d ** 2).sum(-1)).max()) if self.d.size else 0.0


def cell_jacobian_min(d: np.ndarray, step: float) -> float:
    """Exact minimum of det(I + grad d) of the bilinear upsample of a coarse field (rows, cols, 2)."""
    if d.shape[0] < 2 or d.shape[1] < 2:
        return 1.0
    gx = (d[:, 1:] - d[:, :-1]) / step    # d/dx along each row, (rows, cols-1, 2)
    gy = (d[1:, :] - d[:-1, :]) / step    # d/dy along each column, (rows-1, cols, 2)
    rows, cols = d.shape[:2]
    worst = np.inf
    for r in (0, 1):          # a cell's top or bottom row
        for c in (0, 1):      # its left or right column
            ax = gx[r:r + rows - 1]       # (rows-1, cols-1, 2)
            ay = gy[:, c:c + cols - 1]
            det = (1 + ax[..., 0]) * (1 + ay[..., 1]) - ay[..., 0] * ax[..., 1]
            worst = min(worst, float(det.min()))
    return worst


def _safe_factor(d: np.ndarray, step: float) -> float:
    """Largest t in (0, 1] with det(I + t grad d) >= MIN_DET on every cell corner."""
    if cell_jacobian_min(d, step) >= MIN_DET:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(12):
        mid = (lo + hi) / 2
        if cell_jacobian_min(d * mid, step) >= MIN_DET:
            lo = mid
        else:
            hi = mid
    return lo


def _moving(d: np.ndarray) -> np.ndarray:
    """Grid samples (rows, cols) that move a pixel by more than `IDLE_SHIFT`: the region of influence."""
    return np.sqrt((d ** 2).sum(-1)) > IDLE_SHIFT


def _ellipse_boxes(prims: list[Primitive], frame: FaceFrame) -> np.ndarray:
    """Image-space bounding box (x0, y0, x1, y1) of each primitive's ellipse, (P, 4)."""
    u, v = frame.u, frame.v
    c = frame.image(np.array([p.centre for p in prims], dtype=np.float64))
    r = np.array([p.radii for p in prims], dtype=np.float64)
    hx = np.hypot(r[:, 0] * u[0], r[:, 1] * v[0])
    hy = np.hypot(r[:, 0] * u[1], r[:, 1] * v[1])
    return np.stack([c[:, 0] - hx, c[:, 1] - hy, c[:, 0] + hx, c[:, 1] + hy], axis=1)


def apply_field(image: np.ndarray, field: FaceField, out: np.ndarray | None = None) -> np.ndarray:
    """Warp `field.roi` of `image` with one remap (reflective border), written into `out` (a copy by default).

    `out` may be `image` itself (faces warped one after another): the region is then read from a
    copy of itself, a few pixels wider than the region.

    The remap runs in bands of about `BAND_PX` rows: each band's map is upsampled from the coarse
    rows it needs (plus one on each side, so the result equals one whole-region upsample), so the
    maps stay in the CPU cache and no region-sized temporaries are allocated; each band is
    remapped only between the columns its moving samples reach. On a 1920 px portrait that
    halves the apply time (region-sized maps cost more in page faults and memory traffic than
    the remap itself).
    """
    x0, y0, x1, y1 = field.roi
    out = image.copy() if out is None else out
    src, offset = image, (0.0, 0.0)
    if np.may_share_memory(out, image):
        h, w = image.shape[:2]
        sx0, sy0, sx1, sy1 = max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, w), min(y1 + 2, h)
        src, offset = image[sy0:sy1, sx0:sx1].copy(), (sx0, sy0)
    coarse = field.coarse_source(offset)
    step, gx0, gy0 = field.step, field.x0, field.y0
    rows, cols = coarse.shape[:2]
    i_first, i_end = (y0 - gy0) // step, (y1 - 1 - gy0) // step + 1
    moving = _moving(field.d)
    band = max(1, int(round(BAND_PX / step)))
    for i in range(i_first, i_end, band):
        i2 = min(i + band, i_end)
        ra, rb = max(i - 1, 0), min(i2 + 1, rows)      # the samples this band's pixels interpolate
        cols_moving = np.flatnonzero(moving[ra:rb].any(0))
        if not cols_moving.size:
            continue                                    # nothing in this band moves: leave it as it is
        # pixels next to a moving sample, as for `roi` (the rest stay byte-identical anyway)
        bx0 = max(x0, gx0 + (int(cols_moving[0]) - 1) * step)
        bx1 = min(x1, gx0 + (int(cols_moving[-1]) + 2) * step)
        if bx0 >= bx1:
            continue
        ca, cb = max((bx0 - gx0) // step - 1, 0), min((bx1 - 1 - gx0) // step + 2, cols)
        full = cv2.resize(coarse[ra:rb, ca:cb], ((cb - ca) * step, (rb - ra) * step), interpolation=cv2.INTER_LINEAR)
        ya, yb = max(gy0 + i * step, y0), min(gy0 + i2 * step, y1)
        top, left = gy0 + ra * step, gx0 + ca * step
        m1, m2 = cv2.convertMaps(full[ya - top:yb - top, bx0 - left:bx1 - left], None, cv2.CV_16SC2)
        cv2.remap(src, m1, m2, cv2.INTER_LINEAR, dst=out[ya:yb, bx0:bx1], borderMode=cv2.BORDER_REFLECT_101)
    return out


def field_from_primitives(prims: list[Primitive], frame: FaceFrame, shape: tuple[int, ...]) -> FaceField | None:
    """The fused coarse displacement field of `prims` (built in `frame`) over an image of `shape`,
    or None when nothing moves a pixel."""
    if not prims:
        return None
    h, w = shape[:2]
    step = max(2, int(round(frame.scale / SAMPLES_PER_SCALE)))
    eb = _ellipse_boxes(prims, frame)
    bx0, by0, bx1, by1 = eb[:, 0].min(), eb[:, 1].min(), eb[:, 2].max(), eb[:, 3].max()
    # two empty cells of margin: the field is 0 at the region's edge, and the grid reaches one
    # cell beyond the region so the upsample is never clamped inside it
    gx0 = int(np.floor(bx0)) - 2 * step
    gy0 = int(np.floor(by0)) - 2 * step
    cols = int(np.ceil((bx1 - gx0) / step)) + 3
    rows = int(np.ceil((by1 - gy0) / step)) + 3
    xs = gx0 + np.arange(cols) * step + (step - 1) / 2.0 + 0.5     # continuous coordinates of the samples
    ys = gy0 + np.arange(rows) * step + (step - 1) / 2.0 + 0.5
    X, Y = np.meshgrid(xs - frame.origin[0], ys - frame.origin[1])
    A = X * frame.u[0] + Y * frame.u[1]
    B = X * frame.v[0] + Y * frame.v[1]
    # grid cells each primitive can reach (sample k sits at continuous coordinate xs[k])
    c0 = np.clip(np.floor((eb[:, 0] - xs[0]) / step), 0, cols).astype(int)
    c1 = np.clip(np.ceil((eb[:, 2] - xs[0]) / step) + 1, 0, cols).astype(int)
    r0 = np.clip(np.floor((eb[:, 1] - ys[0]) / step), 0, rows).astype(int)
    r1 = np.clip(np.ceil((eb[:, 3] - ys[0]) / step) + 1, 0, rows).astype(int)
    dA, dB = _evaluate(prims, A, B, list(zip(r0, r1, c0, c1)))
    d = np.stack([dA * frame.u[0] + dB * frame.v[0], dA * frame.u[1] + dB * frame.v[1]], axis=-1)
    factor = _safe_factor(d, step)
    d = (d * factor).astype(np.float32)
    # region of influence: cells next to a sample that moves by more than the remap's 1/32 px
    moving = _moving(d)
    if not moving.any():
        return None
    ri, ci = np.nonzero(moving)
    i0, i1 = max(ri.min() - 1, 1), min(ri.max() + 1, rows - 2)
    j0, j1 = max(ci.min() - 1, 1), min(ci.max() + 1, cols - 2)
    roi = (int(max(gx0 + j0 * step, 0)), int(max(gy0 + i0 * step, 0)),
           int(min(gx0 + (j1 + 1) * step, w)), int(min(gy0 + (i1 + 1) * step, h)))
    if roi[0] >= roi[2] or roi[1] >= roi[3]:
        return None
    return FaceField(gx0, gy0, step, d, roi, frame.scale, factor)
