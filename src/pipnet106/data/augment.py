"""Training augmentation: image and landmarks move together.

Input is an already-prepared crop (BGR uint8, usually size x size), points
(N, 2) in continuous pixel coordinates (pixel i covers [i, i+1)) and a
per-point validity mask (N,). Each step is a pure function; the random ones
take an explicit `np.random.Generator`, so a worker seeded once is
reproducible.

Conventions (kept in this one place):
- Geometry is written in continuous coordinates. OpenCV warps map pixel
  *centres* (continuous - 0.5), so `affine` converts its matrix once with
  `crop.pixel_centre_matrix`; the points use the continuous matrix directly.
- Horizontal flip is `Layout.mirror_points` (x -> width - x in continuous
  coordinates, as cv2.flip), and the mask is re-indexed through the same
  `layout.flip_index` as the points, so point 104
  stays "left_pupil" (the pupil on the image's left).
- Points pushed out of the image by a warp keep their coordinates and mask;
  the target encoder clamps them to edge cells. Occluded points stay labelled.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import cv2
import numpy as np

from ..config import occluder_kinds
from ..crop import pixel_centre_matrix
from ..layout import Layout, get_layout
from . import occluders

_WARP_FLAGS = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def _check(image: np.ndarray, points: np.ndarray | None = None) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"augment expects a BGR uint8 (H, W, 3) image, got {getattr(image, 'dtype', type(image))} "
                         f"{getattr(image, 'shape', '')}")
    if points is not None and (points.ndim != 2 or points.shape[1] != 2):
        raise ValueError(f"augment expects (N, 2) points, got shape {points.shape}")


def _float_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points)
    return p if np.issubdtype(p.dtype, np.floating) else p.astype(np.float64)


# ----------------------------------------------------------------------------- geometry

def affine_matrix(width: int, height: int, angle_deg: float = 0.0, scale: float = 1.0,
                  shift_xy: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """2x3 matrix in continuous coordinates: rotate/scale about the image centre, then shift.

    Positive angles turn the content counter-clockwise as displayed (OpenCV's
    `getRotationMatrix2D` sense). `shift_xy` is in pixels.
    """
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    lin = np.array([[c, s], [-s, c]], dtype=np.float64)
    centre = np.array([width / 2.0, height / 2.0])
    t = centre - lin @ centre + np.asarray(shift_xy, dtype=np.float64)
    return np.concatenate([lin, t[:, None]], axis=1)


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 continuous-coordinate matrix to (N, 2) points."""
    p = _float_points(points)
    return (p @ m[:, :2].T + m[:, 2]).astype(p.dtype, copy=False)


def affine(image: np.ndarray, points: np.ndarray, angle_deg: float = 0.0, scale: float = 1.0,
           shift_xy: tuple[float, float] = (0.0, 0.0),
           border_value: tuple[int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One `cv2.warpAffine` (rotation + scale about the centre + shift) on image and points.

    The border is filled with `border_value` (default: the image's mean colour,
    which looks less like a feature to the network than black).
    """
    _check(image, np.asarray(points))
    h, w = image.shape[:2]
    m = affine_matrix(w, h, angle_deg, scale, shift_xy)
    if border_value is None:
        border_value = mean_color(image)
    out = cv2.warpAffine(image, pixel_centre_matrix(m), (w, h), borderValue=tuple(float(v) for v in border_value),
                         **_WARP_FLAGS)
    return out, transform_points(points, m)


def mean_color(image: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(round(v)) for v in cv2.mean(image)[:3])


def hflip(image: np.ndarray, points: np.ndarray, mask: np.ndarray,
          layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror horizontally and swap left/right labels.

    Points go through `layout.mirror_points` (x -> width - x, as `cv2.flip`);
    the mask is re-indexed by the same `layout.flip_index`.
    """
    p = _float_points(points)
    _check(image, p)
    if len(p) != layout.num_points:
        raise ValueError(f"hflip: {len(p)} points but layout {layout.name} has {layout.num_points}")
    out = layout.mirror_points(p, image.shape[1]).astype(p.dtype)
    return cv2.flip(image, 1), out, np.asarray(mask)[layout.flip_index].copy()


# ----------------------------------------------------------------------------- appearance

def occlusion_box(width: int, height: int, rng: np.random.Generator,
                  min_frac: float = 0.1, max_frac: float = 0.4) -> tuple[int, int, int, int]:
    """Random (x0, y0, x1, y1) pixel box, each side min_frac..max_frac of the image side."""
    bw = max(1, int(round(rng.uniform(min_frac, max_frac) * width)))
    bh = max(1, int(round(rng.uniform(min_frac, max_frac) * height)))
    x0 = int(rng.integers(0, width - bw + 1))
    y0 = int(rng.integers(0, height - bh + 1))
    return x0, y0, x0 + bw, y0 + bh


def occlude(image: np.ndarray, rng: np.random.Generator, box: tuple[int, int, int, int] | None = None,
            return_box: bool = False) -> np.ndarray | tuple[np.ndarray, tuple[int, int, int, int]]:
    """Paint a random rectangle (solid random colour or noise); points are unchanged.

    Occluded points stay labelled: the network should learn to guess them.
    `return_box=True` also returns the (x0, y0, x1, y1) box (pixels x0..x1-1).
    """
    _check(image)
    h, w = image.shape[:2]
    if box is None:
        box = occlusion_box(w, h, rng)
    x0, y0, x1, y1 = box
    out = image.copy()
    if rng.random() < 0.5:
        out[y0:y1, x0:x1] = rng.integers(0, 256, size=3, dtype=np.uint8)
    else:
        out[y0:y1, x0:x1] = rng.integers(0, 256, size=(y1 - y0, x1 - x0, 3), dtype=np.uint8)
    return (out, box) if return_box else out


def blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian (k 3 or 5) or short motion blur (k 3..7, random direction). Geometry unchanged."""
    _check(image)
    if rng.random() < 0.5:
        k = int(rng.choice([3, 5]))
        return cv2.GaussianBlur(image, (k, k), float(rng.uniform(0.5, 1.5)))
    k = int(rng.choice([3, 5, 7]))
    a = rng.uniform(0.0, math.pi)
    kernel = np.zeros((k, k), np.float32)
    c = (k - 1) // 2
    dx, dy = int(round(c * math.cos(a))), int(round(c * math.sin(a)))
    cv2.line(kernel, (c - dx, c - dy), (c + dx, c + dy), 1.0, 1)
    # point-symmetric kernel = zero phase, so the blurred image does not drift off the points
    kernel += kernel[::-1, ::-1]
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def color_jitter(image: np.ndarray, rng: np.random.Generator, gray_prob: float = 0.1) -> np.ndarray:
    """Hue shift, saturation, contrast and brightness (each random), sometimes to gray.

    Everything is a 256-entry lookup table, so it costs about a millisecond on a 256 crop.
    """
    _check(image)
    ramp = np.arange(256, dtype=np.float32)
    if rng.random() < gray_prob:
        g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        out = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    else:
        hue = int(rng.integers(-10, 11))          # OpenCV hue units (2 degrees)
        sat = float(rng.uniform(0.6, 1.4))
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        h, s, v = cv2.split(hsv)
        h = cv2.LUT(h, ((np.arange(256) + hue) % 180).astype(np.uint8))
        s = cv2.LUT(s, np.clip(ramp * sat, 0, 255).astype(np.uint8))
        out = cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR)
    contrast = float(rng.uniform(0.7, 1.3))
    bright = float(rng.uniform(-32.0, 32.0))
    mean = float(cv2.mean(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY))[0])
    lut = np.clip((ramp - mean) * contrast + mean + bright + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(out, lut)


def jpeg(image: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (15, 75)) -> np.ndarray:
    """Re-encode as JPEG at a random quality: the block and ringing artefacts of phone/web photos."""
    _check(image)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(quality[0], quality[1] + 1))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else image


def low_resolution(image: np.ndarray, rng: np.random.Generator, scale: tuple[float, float] = (0.3, 0.7)) -> np.ndarray:
    """Shrink by a random factor (area filter) and enlarge back: a small face seen at the input size.

    Both resizes keep the continuous-coordinate frame (cv2.resize maps pixel centres by the
    scale), so the points do not move.
    """
    _check(image)
    h, w = image.shape[:2]
    f = float(rng.uniform(*scale))
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------- pipeline

class Augmenter:
    """Random training augmentation from the flat `Config`.

    Order: flip, one combined warp (rotation, scale, shift), occlusion, low
    resolution, blur, colour, JPEG. Each step runs with its own probability from
    the config (the last two steps draw no random numbers when their probability
    is 0, so older configs augment exactly as before).
    """

    def __init__(self, cfg: Any, layout: Layout | str | None = None) -> None:
        self.layout = get_layout(cfg.layout) if layout is None else (
            layout if isinstance(layout, Layout) else get_layout(layout))
        self.rotate_prob = float(cfg.rotate_prob)
        self.rotate_deg = float(cfg.rotate_deg)
        self.scale_prob = float(cfg.scale_prob)
        self.scale_range = float(cfg.scale_range)
        self.shift_prob = float(cfg.shift_prob)
        self.shift_frac = float(cfg.shift_frac)
        self.flip_prob = float(cfg.flip_prob)
        self.occlude_prob = float(cfg.occlude_prob)
        self.blur_prob = float(cfg.blur_prob)
        self.color_prob = float(cfg.color_prob)
        self.jpeg_prob = float(getattr(cfg, "jpeg_prob", 0.0))
        self.lowres_prob = float(getattr(cfg, "lowres_prob", 0.0))
        self.occluders = occluder_kinds(getattr(cfg, "occluders", "box"))
        self.shape_prob = float(getattr(cfg, "shape_prob", 0.0))
        self.shape_strength = float(getattr(cfg, "shape_strength", 1.0))

    def reshape(self, image: np.ndarray, points: np.ndarray, mask: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict | None]:
        """The shape augmentation (with probability `shape_prob`): random local changes of the face
        (`SHAPE_AUGMENT`) applied to the photo with the retouch's one-to-one field, and the points
        mapped through the same field exactly, so the network sees an eye or a mouth change while
        the face around it stays. Run it at the prepared crop's full resolution, before resizing.
        Returns (image, points, the values drawn or None)."""
        if not self.shape_prob or rng.random() >= self.shape_prob:
            return image, points, None
        return reshape_face(image, points, mask, rng, self.shape_strength, self.layout)

    def __call__(self, image: np.ndarray, points: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 info: dict | None = None, other: Callable[[], np.ndarray] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Augment one sample -> (image, points, mask, visible); new arrays (inputs are not modified).

        `visible` (N,) is False for points an occluder covers or that left the image. `other` (called
        only when needed: a photo of the same size) feeds the ``texture`` occluder. If `info` is a dict it is filled
        with what was applied (flip, angle, scale, shift, occlusion, blur, color) - for tests and
        debugging.
        """
        points = _float_points(points)
        _check(image, points)
        mask = np.asarray(mask, dtype=bool)
        if len(mask) != len(points):
            raise ValueError(f"augment: {len(points)} points but mask has {len(mask)} entries")
        rec: dict = {} if info is None else info
        h, w = image.shape[:2]

        rec["flip"] = bool(rng.random() < self.flip_prob)
        if rec["flip"]:
            image, points, mask = hflip(image, points, mask, self.layout)
        else:
            points, mask = points.copy(), mask.copy()

        angle = float(rng.uniform(-self.rotate_deg, self.rotate_deg)) if rng.random() < self.rotate_prob else 0.0
        scale = (float(rng.uniform(1.0 - self.scale_range, 1.0 + self.scale_range))
                 if rng.random() < self.scale_prob else 1.0)
        shift = ((float(rng.uniform(-self.shift_frac, self.shift_frac) * w),
                  float(rng.uniform(-self.shift_frac, self.shift_frac) * h))
                 if rng.random() < self.shift_prob else (0.0, 0.0))
        rec.update(angle=angle, scale=scale, shift=shift)
        if angle != 0.0 or scale != 1.0 or shift != (0.0, 0.0):
            border = (tuple(int(v) for v in rng.integers(0, 256, size=3)) if rng.random() < 0.5
                      else mean_color(image))
            image, points = affine(image, points, angle, scale, shift, border_value=border)

        rec["occlusion"] = None
        visible = occluders.visible_points(points, np.zeros(image.shape[:2], np.float32))
        if rng.random() < self.occlude_prob:
            if self.occluders == ("box",):   # the original stream of random numbers
                image, rec["occlusion"] = occlude(image, rng, return_box=True)
                x0, y0, x1, y1 = rec["occlusion"]
                visible &= ~((points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1))
            else:
                image, covered, rec["occlusion"] = occluders.occlude(image, points, rng, self.occluders, other)
                visible &= covered
        rec["lowres"] = bool(self.lowres_prob and rng.random() < self.lowres_prob)
        if rec["lowres"]:
            image = low_resolution(image, rng)
        rec["blur"] = bool(rng.random() < self.blur_prob)
        if rec["blur"]:
            image = blur(image, rng)
        rec["color"] = bool(rng.random() < self.color_prob)
        if rec["color"]:
            image = color_jitter(image, rng)
        rec["jpeg"] = bool(self.jpeg_prob and rng.random() < self.jpeg_prob)
        if rec["jpeg"]:
            image = jpeg(image, rng)
        return np.ascontiguousarray(image), points, mask, visible


# ----------------------------------------------------------------------------- shape

SHAPE_AUGMENT = ("eye_size", "eye_height", "mouth_open", "mouth_width", "lip_fullness", "brow_lift", "jaw_width",
                 "chin_length", "face_slim", "nose_width")
"""The local changes the shape augmentation draws (`shape.primitives.SHAPE_CHANGES`). Not in it,
so that evaluation can test on a warp training never saw: the `lens` magnifier."""


def random_shape(rng: np.random.Generator, points: np.ndarray, strength: float = 1.0) -> dict[str, float]:
    """Values in [-strength, strength] for about half of `SHAPE_AUGMENT`, the eyes changed unequally.

    A mouth is closed no further than it is open (a negative `mouth_open` would press the lips
    into each other), and the eyes' changes differ by up to half (`eye_asymmetry`): a wink or one
    eye larger."""
    from ..shape.primitives import SIZES

    values = {name: float(rng.uniform(-strength, strength)) if rng.random() < 0.5 else 0.0 for name in SHAPE_AUGMENT}
    gap = float(np.ptp(points[96:104, 1]))                            # the inner lips' opening, pixels
    size = float(np.hypot(*(points[79] - points[66])))
    most_closed = min(1.0, gap / max(2 * SIZES.mouth_open * size, 1e-6))
    values["mouth_open"] = max(values["mouth_open"], -most_closed)
    values["eye_asymmetry"] = float(rng.uniform(-0.5, 0.5))
    return values


def reshape_face(image: np.ndarray, points: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 strength: float = 1.0, layout: Layout | None = None) -> tuple[np.ndarray, np.ndarray, dict | None]:
    """One random shape change of a lapa106 face whose points are all labelled (others are left as
    they are) -> (image, points mapped exactly through the warp, values or None)."""
    from types import SimpleNamespace

    from ..shape.field import apply_field, field_from_primitives
    from ..shape.frame import face_frame
    from ..shape.primitives import shape_primitives

    if (layout is not None and layout.name != "lapa106") or len(points) != 106 or not np.all(mask):
        return image, points, None
    values = random_shape(rng, points, strength)
    frame = face_frame(points, weight=1.0)
    fld = field_from_primitives(shape_primitives(points, frame, SimpleNamespace(**values)), frame, image.shape)
    if fld is None:
        return image, points, values
    return apply_field(image, fld), fld.forward_points(points).astype(points.dtype), values
