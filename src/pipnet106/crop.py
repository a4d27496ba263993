"""The one crop rule, shared by `prepare` and inference.

A crop is an axis-aligned scale + shift: ``crop_xy = src_xy * scale + offset``.
`CropTransform` records it so any point predicted on a crop maps back to
source pixels exactly (`to_source`). Coordinates are continuous pixel
coordinates where pixel (i, j) covers [i, i+1) x [j, j+1); resizing with
`cv2.warpAffine` on the same matrix keeps image and points in register.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

DEFAULT_ENLARGE = 1.25


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
        p = np.asarray(points, dtype=np.float64)
        return (p - np.array([self.offset_x, self.offset_y])) / self.scale

    def matrix(self) -> np.ndarray:
        """2x3 affine source->crop in OpenCV's pixel-centre convention."""
        s = self.scale
        return pixel_centre_matrix(np.array([[s, 0.0, self.offset_x], [0.0, s, self.offset_y]]))

    def apply(self, image: np.ndarray, border_value: int | tuple = 0) -> np.ndarray:
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        return cv2.warpAffine(image, self.matrix(), (self.size, self.size), flags=interp,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CropTransform":
        return cls(float(d["scale"]), float(d["offset_x"]), float(d["offset_y"]), int(d["size"]))


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


def square_box(box: np.ndarray, enlarge: float = DEFAULT_ENLARGE) -> np.ndarray:
    """Square box around the centre of (x0, y0, x1, y1), side = long side * enlarge."""
    x0, y0, x1, y1 = [float(v) for v in box]
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    half = max(x1 - x0, y1 - y0) * enlarge / 2.0
    return np.array([cx - half, cy - half, cx + half, cy + half])


def points_box(points: np.ndarray) -> np.ndarray:
    """Tight box (x0, y0, x1, y1) of (N, 2) points, ignoring non-finite rows."""
    p = np.asarray(points, dtype=np.float64)
    p = p[np.isfinite(p).all(axis=1)]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def crop_from_points(points: np.ndarray, size: int, enlarge: float = DEFAULT_ENLARGE) -> CropTransform:
    """The training crop: square around the landmark box enlarged by `enlarge`."""
    return box_transform(square_box(points_box(points), enlarge), size)
