"""Things that cover part of a face, drawn on a training crop, with the points they cover.

Each occluder is drawn as a colour layer and an opacity (alpha) map over the crop; a point is
covered (not visible) where the opacity at its position is above one half. Kinds, each placed
from the face's own points so it lands where such things land on real photos:

- ``box``: a solid or noisy rectangle anywhere (the original occlusion augmentation);
- ``hand``: a palm and fingers in a skin tone, over the mouth, a cheek, an eye or the chin;
- ``hair``: a few strands falling across the forehead and eyes;
- ``glasses``: frames around the eyes (thin rims that rarely cover a point), sometimes dark lenses;
- ``mask``: a face mask from the nose down;
- ``phone``: a dark rounded slab held against a cheek;
- ``texture``: a patch cut from another photo (or, without one, a random texture).

The visibility labels this gives are exact by construction, which is what trains the model's
per-point visibility output.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..constants import OCCLUDER_KINDS as KINDS
_SHIFT = 4
_ONE = float(1 << _SHIFT)


def _pts(p: np.ndarray) -> np.ndarray:
    """Continuous coordinates -> OpenCV's fixed-point pixel-centre coordinates."""
    return np.round((np.asarray(p, dtype=np.float64) - 0.5) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _canvas(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)


def _face_size(points: np.ndarray) -> float:
    return float(max(np.ptp(points[:, 0]), np.ptp(points[:, 1]), 8.0))


def _skin_like(rng: np.random.Generator, image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A skin tone near the face's own (the mean colour inside its landmark box), jittered."""
    x0, y0 = np.clip(points.min(0).astype(int), 0, None)
    x1, y1 = points.max(0).astype(int)
    patch = image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    base = patch.reshape(-1, 3).mean(0) if patch.size else np.array([120.0, 140.0, 170.0])
    return np.clip(base * rng.uniform(0.75, 1.15) + rng.uniform(-15, 15, 3), 0, 255)


def _hand(rng, image, points, layer, alpha) -> None:
    s = _face_size(points)
    target = points[int(rng.choice([90, 93, 16, 6, 26, 74, 83, 60]))] if len(points) == 106 else points.mean(0)
    ang = rng.uniform(0, 2 * math.pi)
    palm_c = target + np.array([math.cos(ang), math.sin(ang)]) * s * rng.uniform(0.25, 0.45)
    colour = _skin_like(rng, image, points)
    axes = (int(s * rng.uniform(0.18, 0.28) * _ONE), int(s * rng.uniform(0.22, 0.32) * _ONE))
    deg = math.degrees(ang) + 90
    for img, val in ((layer, colour), (alpha, 1.0)):
        cv2.ellipse(img, tuple(_pts(palm_c)[0, 0]), axes, deg, 0, 360, val if np.ndim(val) == 0 else val.tolist(),
                    -1, cv2.LINE_AA, _SHIFT)
    direction = -np.array([math.cos(ang), math.sin(ang)])
    across = np.array([-direction[1], direction[0]])
    width = max(2, int(round(s * rng.uniform(0.06, 0.09))))
    for k in range(int(rng.integers(2, 5))):
        base = palm_c + across * (k - 1.5) * width * 1.1
        tip = base + direction * s * rng.uniform(0.3, 0.5) + across * rng.normal(0, 0.05 * s)
        shade = colour * rng.uniform(0.85, 1.05)
        for img, val in ((layer, shade.tolist()), (alpha, 1.0)):
            cv2.line(img, tuple(_pts(base)[0, 0]), tuple(_pts(tip)[0, 0]), val, width, cv2.LINE_AA, _SHIFT)


def _hair(rng, image, points, layer, alpha) -> None:
    s = _face_size(points)
    top = points[:, 1].min()
    colour = np.array([[20, 20, 25], [30, 50, 80], [60, 90, 140], [150, 150, 150]], float)[int(rng.integers(4))]
    colour = colour * rng.uniform(0.7, 1.3)
    x_lo, x_hi = points[:, 0].min(), points[:, 0].max()
    for _ in range(int(rng.integers(3, 13))):
        x = rng.uniform(x_lo, x_hi)
        p0 = np.array([x, top - rng.uniform(0, 0.15) * s])
        p2 = p0 + np.array([rng.normal(0, 0.3), rng.uniform(0.35, 0.8)]) * s
        p1 = 0.5 * (p0 + p2) + np.array([rng.normal(0, 0.2) * s, 0.0])
        t = np.linspace(0, 1, 24)[:, None]
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
        thick = max(1, int(round(s * rng.uniform(0.01, 0.04))))
        for img, val in ((layer, (colour * rng.uniform(0.8, 1.2)).tolist()), (alpha, 1.0)):
            cv2.polylines(img, [_pts(curve)], False, val, thick, cv2.LINE_AA, _SHIFT)


def _glasses(rng, image, points, layer, alpha) -> None:
    if len(points) != 106:
        return _box(rng, image, points, layer, alpha)
    dark = rng.random() < 0.35
    colour = rng.uniform(0, 80, 3) if rng.random() < 0.7 else rng.uniform(80, 255, 3)
    thick = max(1, int(round(_face_size(points) * rng.uniform(0.008, 0.025))))
    centres = []
    for ring, centre in ((slice(66, 74), 74), (slice(75, 83), 83)):
        c = points[centre]
        ew = float(np.hypot(*(points[ring][0] - points[ring][4])))
        axes = (int(ew * rng.uniform(0.75, 0.95) * _ONE), int(ew * rng.uniform(0.5, 0.7) * _ONE))
        tilt = math.degrees(math.atan2(*(points[83] - points[74])[::-1]))
        centres.append((c, axes))
        if dark:
            lens = rng.uniform(10, 60, 3)
            cv2.ellipse(layer, tuple(_pts(c)[0, 0]), axes, tilt, 0, 360, lens.tolist(), -1, cv2.LINE_AA, _SHIFT)
            cv2.ellipse(alpha, tuple(_pts(c)[0, 0]), axes, tilt, 0, 360, float(rng.uniform(0.8, 0.95)), -1,
                        cv2.LINE_AA, _SHIFT)
        for img, val in ((layer, colour.tolist()), (alpha, 1.0)):
            cv2.ellipse(img, tuple(_pts(c)[0, 0]), axes, tilt, 0, 360, val, thick, cv2.LINE_AA, _SHIFT)
    (a, ax), (b, bx) = centres
    inner_a = a + (b - a) / np.linalg.norm(b - a) * ax[0] / _ONE
    inner_b = b - (b - a) / np.linalg.norm(b - a) * bx[0] / _ONE
    for p, q in ((inner_a, inner_b), (a - (b - a) * 0.55, points[0]), (b + (b - a) * 0.55, points[32])):
        for img, val in ((layer, colour.tolist()), (alpha, 1.0)):
            cv2.line(img, tuple(_pts(p)[0, 0]), tuple(_pts(q)[0, 0]), val, thick, cv2.LINE_AA, _SHIFT)


def _mask(rng, image, points, layer, alpha) -> None:
    if len(points) != 106:
        return _box(rng, image, points, layer, alpha)
    ia, ib = int(rng.integers(3, 7)), 32 - int(rng.integers(3, 7))
    nose = points[int(rng.choice([53, 54]))]
    poly = np.concatenate([points[ia:ib + 1], nose[None]])   # along the jaw through the chin, up to the nose
    colour = np.array([[230, 200, 150], [240, 240, 240], [30, 30, 30], [200, 180, 120]], float)[int(rng.integers(4))]
    for img, val in ((layer, (colour + rng.uniform(-15, 15, 3)).tolist()), (alpha, 1.0)):
        cv2.fillPoly(img, [_pts(poly)], val, cv2.LINE_AA, _SHIFT)


def _phone(rng, image, points, layer, alpha) -> None:
    s = _face_size(points)
    side = points[int(rng.choice([4, 8, 24, 28]))] if len(points) == 106 else points[int(rng.integers(len(points)))]
    w, h = s * rng.uniform(0.3, 0.45), s * rng.uniform(0.6, 0.9)
    rect = ((float(side[0] - 0.5), float(side[1] - 0.5)), (float(w), float(h)), float(rng.uniform(-40, 40)))
    box = cv2.boxPoints(rect) + 0.5
    colour = rng.uniform(10, 70, 3)
    for img, val in ((layer, colour.tolist()), (alpha, 1.0)):
        cv2.fillPoly(img, [_pts(box)], val, cv2.LINE_AA, _SHIFT)


def _box(rng, image, points, layer, alpha) -> None:
    h, w = alpha.shape
    bw = max(1, int(round(rng.uniform(0.1, 0.4) * w)))
    bh = max(1, int(round(rng.uniform(0.1, 0.4) * h)))
    x0, y0 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    if rng.random() < 0.5:
        layer[y0:y0 + bh, x0:x0 + bw] = rng.integers(0, 256, size=3)
    else:
        layer[y0:y0 + bh, x0:x0 + bw] = rng.integers(0, 256, size=(bh, bw, 3))
    alpha[y0:y0 + bh, x0:x0 + bw] = 1.0


def _texture(rng, image, points, layer, alpha, other: np.ndarray | None = None) -> None:
    h, w = alpha.shape
    s = _face_size(points)
    if other is None or other.shape[:2] != (h, w):
        other = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (0, 0), rng.uniform(1, 4))
    c = points[int(rng.integers(len(points)))] + rng.normal(0, 0.1 * s, 2)
    n = int(rng.integers(5, 9))
    ang = np.sort(rng.uniform(0, 2 * math.pi, n))
    rad = s * rng.uniform(0.12, 0.3, n)
    poly = c + np.stack([np.cos(ang) * rad, np.sin(ang) * rad], axis=1)
    m = np.zeros((h, w), np.float32)
    cv2.fillPoly(m, [_pts(poly)], 1.0, cv2.LINE_AA, _SHIFT)
    dy, dx = int(rng.integers(-h // 3, h // 3 + 1)), int(rng.integers(-w // 3, w // 3 + 1))
    layer[...] = np.roll(other, (dy, dx), axis=(0, 1)) * m[..., None] + layer * (1 - m[..., None])
    np.maximum(alpha, m, out=alpha)


_DRAW = {"box": _box, "hand": _hand, "hair": _hair, "glasses": _glasses, "mask": _mask, "phone": _phone,
         "texture": _texture}


def occlude(image: np.ndarray, points: np.ndarray, rng: np.random.Generator, kinds: tuple[str, ...] = KINDS,
            other=None) -> tuple[np.ndarray, np.ndarray, str]:
    """Draw one occluder of a random kind from `kinds` -> (image, visible (N,) bool, kind).

    `other` is another training photo of the same size (or a function returning one, called only
    for the ``texture`` kind). Points outside the image count as not visible."""
    h, w = image.shape[:2]
    kind = str(kinds[int(rng.integers(len(kinds)))])
    layer, alpha = _canvas(h, w)
    draw = _DRAW[kind]
    if kind == "texture":
        draw(rng, image, points, layer, alpha, other() if callable(other) else other)
    else:
        draw(rng, image, points, layer, alpha)
    if kind != "box" and rng.random() < 0.5:
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.4, 1.0))
    a = alpha[..., None]
    out = np.clip(image.astype(np.float32) * (1 - a) + layer * a + 0.5, 0, 255).astype(np.uint8)
    return out, visible_points(points, alpha), kind


def visible_points(points: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(N,) bool: inside the image and not covered (opacity at the point <= 1/2, bilinear)."""
    h, w = alpha.shape
    p = np.asarray(points, dtype=np.float64)
    inside = np.isfinite(p).all(1) & (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    q = np.where(inside[:, None], p, 0.0).astype(np.float32) - 0.5     # pixel-centre coordinates
    cover = cv2.remap(alpha, q[:, :1].reshape(-1, 1), q[:, 1:].reshape(-1, 1), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE).reshape(-1)
    return inside & (cover <= 0.5)
