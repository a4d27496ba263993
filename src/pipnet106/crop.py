"""The one crop rule, shared by `prepare` and inference.

A crop is an axis-aligned scale + shift: ``crop_xy = src_xy * scale + offset``.
`CropTransform` records it so any point predicted on a crop maps back to
source pixels exactly (`to_source`). Coordinates are continuous pixel
coordinates where pixel (i, j) covers [i, i+1) x [j, j+1); resizing with
`cv2.warpAffine` on the same matrix keeps image and points in register.
Shrinking crops are box-filtered instead (`area_crop`), on the same
coordinates, so a face gives the same crop whatever the photo's resolution.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import cv2
import numpy as np

DEFAULT_ENLARGE = 1.25
AREA_FILTER_BELOW = 0.5
"""Crops shrinking the source by more than 2 are box-filtered, not sampled (see `CropTransform.apply`).

Between 0.5 and 1 a bilinear sample still touches every source pixel, and measured agreement
between a large photo and its quarter-size copy was the same as with the box filter
(benchmarks/antialias.py), while the box filter costs several times a warp per crop (0.6 vs 0.1 ms
for a 366-px face at 128)."""
_MAX_INTEGRAL_PIXELS = 4_000_000
"""Source pixels under one crop above which `area_crop` first takes exact k x k block means (memory bound)."""


def pixel_centre_matrix(m: np.ndarray) -> np.ndarray:
    """2x3 matrix in continuous coordinates -> the same map in OpenCV's pixel-centre coordinates.

    cv2 warps address pixel centres, q = p - 0.5, so q' = A q + (A @ 0.5 + t - 0.5).
    Every warp of the package goes through here, so images and points stay in register.
    """
    m = np.asarray(m, dtype=np.float64)
    out = m.copy()
    out[:, 2] = m[:, :2] @ np.array([0.5, 0.5]) + m[:, 2] - 0.5
    return out


@dataclass(frozen=True)
class CropTransform:
    scale: float
    offset_x: float
    offset_y: float
    size: int
    """Side of the square output crop in pixels."""

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=np.float64)
        return p * self.scale + np.array([self.offset_x, self.offset_y])

    def to_source(self, points: np.ndarray) -> np.ndarray:
        # two array operations (float64 from the subtraction on): per face per frame on a tracker
        q = np.subtract(points, (self.offset_x, self.offset_y), dtype=np.float64)
        q /= self.scale
        return q

    def matrix(self) -> np.ndarray:
        """2x3 affine source->crop in OpenCV's pixel-centre convention.

        `pixel_centre_matrix` of [[s, 0, ox], [0, s, oy]] written out in Python floats (the same
        float64 operations in the same order, so the same matrix): this runs once per face per
        frame, and after a network run has evicted the caches numpy's small-array calls cost more
        than the arithmetic (part of what the pipeline adds to the network, issue 23 item 7)."""
        s = float(self.scale)
        return np.array([[s, 0.0, (s * 0.5 + self.offset_x) - 0.5], [0.0, s, (s * 0.5 + self.offset_y) - 0.5]])

    def apply(self, image: np.ndarray, border_value: int | tuple = 0) -> np.ndarray:
        """The `size` x `size` crop of `image`, anti-aliased when shrinking.

        `cv2.warpAffine` samples bilinearly whatever flag it is given, so shrinking by more
        than 2 skips source pixels and aliases (moire on hair and textiles, and predictions
        that change with the photo's resolution). Below `AREA_FILTER_BELOW` each crop pixel
        is instead the exact mean of the source area it covers (`area_crop`); enlarging
        stays bilinear.
        """
        if self.scale < AREA_FILTER_BELOW:
            return area_crop(image, self, border_value)
        return cv2.warpAffine(image, self.matrix(), (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CropTransform":
        return cls(float(d["scale"]), float(d["offset_x"]), float(d["offset_y"]), int(d["size"]))


def area_crop(image: np.ndarray, t: CropTransform, border_value: int | tuple = 0) -> np.ndarray:
    """Crop by box filtering: crop pixel (i, j) = mean of source over its footprint under `t`.

    The footprint of crop pixel [i, i+1) is source [(i - offset) / scale, (i + 1 - offset) / scale),
    fractional edges included: the image's integral is bilinear between pixel corners, so
    sampling it at the footprint corners gives the exact area sums. Area outside the image
    counts as `border_value`. Same continuous-coordinate contract as the bilinear warp.
    """
    img = image if image.ndim == 3 else image[:, :, None]
    h, w, c = img.shape
    n, s = t.size, t.scale
    ex = (np.arange(n + 1) - t.offset_x) / s  # crop pixel edges in source coordinates
    ey = (np.arange(n + 1) - t.offset_y) / s
    x0, x1 = (int(np.clip(v, 0, w)) for v in (np.floor(ex[0]), np.ceil(ex[-1])))
    y0, y1 = (int(np.clip(v, 0, h)) for v in (np.floor(ey[0]), np.ceil(ey[-1])))
    bv = np.ravel(np.asarray(border_value, dtype=np.float64))
    border = bv[:c] if bv.size >= c else np.full(c, bv[0])  # a single number fills every channel
    if x1 <= x0 or y1 <= y0:  # entirely off the image
        out = np.broadcast_to(np.clip(np.rint(border), 0, 255).astype(np.uint8), (n, n, c)).copy()
        return out if image.ndim == 3 else out[:, :, 0]
    roi = img[y0:y1, x0:x1]
    k = int(np.ceil(np.sqrt(roi.shape[0] * roi.shape[1] / _MAX_INTEGRAL_PIXELS)))
    if k > 1:  # bound memory on huge faces: exact k x k block means first (still far finer than the crop)
        hk, wk = -(-roi.shape[0] // k), -(-roi.shape[1] // k)
        roi = cv2.resize(cv2.copyMakeBorder(roi, 0, hk * k - roi.shape[0], 0, wk * k - roi.shape[1],
                                            cv2.BORDER_REPLICATE).reshape(hk * k, wk * k, -1),
                         (wk, hk), interpolation=cv2.INTER_AREA).reshape(hk, wk, c)
        cx = np.clip((ex - x0) / k, 0, (x1 - x0) / k)
        cy = np.clip((ey - y0) / k, 0, (y1 - y0) / k)
    else:
        cx, cy = np.clip(ex - x0, 0, x1 - x0), np.clip(ey - y0, 0, y1 - y0)
    # int32 sums are exact up to 8.4 million pixels (`_MAX_INTEGRAL_PIXELS` keeps below)
    integral = cv2.integral(roi, sdepth=cv2.CV_32S).reshape(roi.shape[0] + 1, roi.shape[1] + 1, c)
    ix = np.minimum(cx.astype(np.int64), roi.shape[1] - 1)
    iy = np.minimum(cy.astype(np.int64), roi.shape[0] - 1)
    sums = _footprint_sums(integral, ix, iy, (cx - ix).astype(np.float32), (cy - iy).astype(np.float32))
    inside = np.outer(np.diff(cy), np.diff(cx)) * (k * k * s * s)  # share of each footprint on the image
    if inside.min() < 1 - 1e-9:  # the rest of a footprint counts as the border value
        off = (1.0 - inside).astype(np.float32)
        rest = cv2.merge([off * np.float32(b) for b in border]).reshape(n, n, c)
        sums = cv2.scaleAdd(sums, float(k * k * s * s), rest).reshape(n, n, c)
        out = cv2.convertScaleAbs(sums)  # rounds half to even and saturates to 0..255, like rint + clip
    else:
        out = cv2.convertScaleAbs(sums, alpha=float(k * k * s * s))
    out = out.reshape(n, n, c)
    return out if image.ndim == 3 else out[:, :, 0]


def _footprint_sums(integral: np.ndarray, ix: np.ndarray, iy: np.ndarray, fx: np.ndarray, fy: np.ndarray
                    ) -> np.ndarray:
    """Source sums over every crop pixel's footprint, (n, n, c) float32, from the (H+1, W+1, c) int32
    integral and the footprint edges (integer part `ix`/`iy`, fraction `fx`/`fy`, n + 1 each).

    Only the integral at rows iy, iy + 1 and columns ix, ix + 1 is read. One axis at a time, with
    differences before floats: along y the integral at edge i is a_i + fy_i d_i (a = its row at
    the edge, d = the next row minus it), so the strip between edges i and i + 1 is
    (a_{i+1} - a_i) + fy_{i+1} d_{i+1} - fy_i d_i, whose integer terms are a few rows' sums, exact in
    float32; then the same along x on the strips. Half the memory traffic of sampling the integral
    bilinearly in float64, and the same crops but for one grey level at exact halves."""
    n, c = len(ix) - 1, integral.shape[2]
    at = np.concatenate([iy, iy + 1])[:, None] * integral.shape[1] + np.concatenate([ix, ix + 1])[None, :]
    g = integral.reshape(-1, c).take(at, axis=0)                      # (2n+2, 2n+2, c): one gather
    a = g[: n + 1]                                                    # (n+1, 2n+2, c) int32
    d = (g[n + 1:] - a).astype(np.float32) * fy[:, None, None]
    strips = np.diff(a, axis=0).astype(np.float32)                    # (n, 2n+2, c)
    strips += d[1:]
    strips -= d[:-1]
    a = strips[:, : n + 1]                                            # the same along x
    d = (strips[:, n + 1:] - a) * fx[None, :, None]
    return np.diff(a, axis=1) + d[:, 1:] - d[:, :-1]


def letterbox_transform(width: int, height: int, size: int) -> CropTransform:
    """Keep aspect, scale the long side to `size`, centre on a square canvas."""
    scale = size / max(width, height)
    return CropTransform(scale, (size - width * scale) / 2.0, (size - height * scale) / 2.0, size)


def box_transform(box: np.ndarray, size: int) -> CropTransform:
    """Map a square box (x0, y0, x1, y1) in source pixels onto a `size` crop."""
    x0, y0, x1, y1 = [float(v) for v in box]
    side = max(x1 - x0, y1 - y0, 1e-6)
    scale = size / side
    return CropTransform(scale, -x0 * scale, -y0 * scale, size)


def calibrated_box(box: np.ndarray, calibration: Sequence[float] | None) -> np.ndarray:
    """Where a detector's box puts the landmark box: `calibration` (dx, dy, sw, sh), a detector's
    `landmark_box`, moves the box's centre by (dx, dy) of its size and scales its sides by (sw, sh);
    None leaves the box as it is (boxes given by the user are taken as landmark boxes)."""
    box = np.asarray(box, dtype=np.float64)
    if calibration is None:
        return box
    dx, dy, sw, sh = calibration
    w, h = box[2] - box[0], box[3] - box[1]
    cx, cy = (box[0] + box[2]) / 2 + dx * w, (box[1] + box[3]) / 2 + dy * h
    return np.array([cx - sw * w / 2, cy - sh * h / 2, cx + sw * w / 2, cy + sh * h / 2])


def square_box(box: np.ndarray, enlarge: float = DEFAULT_ENLARGE) -> np.ndarray:
    """Square box around the centre of (x0, y0, x1, y1), side = long side * enlarge."""
    return np.array(_square(box, enlarge))


def _square(box, enlarge: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = map(float, box.tolist() if isinstance(box, np.ndarray) else box)  # (one call for an array)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half = max(x1 - x0, y1 - y0) * enlarge / 2.0
    return cx - half, cy - half, cx + half, cy + half


def square_crop(box, size: int, enlarge: float = DEFAULT_ENLARGE) -> CropTransform:
    """`box_transform(square_box(box, enlarge), size)` in Python floats (the same numbers): the
    per-face, per-frame crop of trackers and first passes, where small numpy calls cost more than
    the arithmetic once a network run has evicted the caches."""
    return box_transform(_square(box, enlarge), size)


def points_box(points: np.ndarray) -> np.ndarray:
    """Tight box (x0, y0, x1, y1) of (N, 2) points, ignoring non-finite rows."""
    p = np.asarray(points, dtype=np.float64)
    if not np.isfinite(p).all():  # (the test first: a tracker calls this per face per frame)
        p = p[np.isfinite(p).all(axis=1)]
    return np.concatenate([p.min(axis=0), p.max(axis=0)])


def crop_from_points(points: np.ndarray, size: int, enlarge: float = DEFAULT_ENLARGE) -> CropTransform:
    """The training crop: square around the landmark box enlarged by `enlarge`."""
    return square_crop(points_box(points), size, enlarge)


def crop_change(a: CropTransform, b: CropTransform) -> float:
    """How far crop `b` is from crop `a`, in units of a's side: the larger of the centre shift
    (in source pixels / a's side) and the relative side change. 0 = the same crop.

    Refinement uses it to skip a second landmark pass when the training crop made from the
    first-pass points is already (nearly) the crop that pass used."""
    side_a, side_b = a.size / a.scale, b.size / b.scale
    ca = (np.array([a.size, a.size]) / 2 - [a.offset_x, a.offset_y]) / a.scale
    cb = (np.array([b.size, b.size]) / 2 - [b.offset_x, b.offset_y]) / b.scale
    return float(max(np.abs(cb - ca).max() / side_a, abs(side_b / side_a - 1.0)))
