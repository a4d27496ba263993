"""Synthetic faces with exactly known 106 landmarks (LaPa/JD order).

Tests and the demo need images whose ground truth is exact and which need no
download. A 3D point template (symmetric under `LAPA106.flip`) is varied a
little (expression, proportions), rotated (yaw, pitch, roll), projected
orthographically and drawn with OpenCV at sub-pixel precision, so every
feature sits on its points: the eye white is the polygon of the eye contour,
the pupil is centred on 104/105, the lips are the outer minus the inner mouth
contour, and so on.

Coordinates are continuous pixels (pixel i covers [i, i+1)); cv2 draws in
pixel-centre coordinates, hence the `- 0.5` in `_cv`.

With ``markers=True`` every landmark also gets a small dot whose colour is
`MARKER_COLORS[region]` (all 11 fine regions distinct, left and right
included), so a test can read the pixel under each transformed point. After
a horizontal flip with relabelling, point i sits on the dot of point
``flip[i]``, i.e. it shows the colour of the mirror region.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..fileio import atomic_write_image, atomic_write_text
from ..layout import LAPA106
from ..face3d import face_z, template, template3d  # noqa: F401  (template: re-exported, the faces are drawn from it)

_SHIFT = 4
_ONE = float(1 << _SHIFT)

MARKER_RADIUS = 2.0
"""Radius in pixels of the landmark dots drawn with ``markers=True``."""

MARKER_COLORS: dict[str, tuple[int, int, int]] = {
    "contour": (0, 255, 255),
    "left_brow": (255, 0, 255),
    "right_brow": (255, 0, 128),
    "nose_bridge": (255, 255, 0),
    "nose_lower": (0, 128, 255),
    "left_eye": (0, 255, 0),
    "right_eye": (128, 255, 0),
    "mouth_outer": (0, 0, 255),
    "mouth_inner": (255, 0, 0),
    "left_pupil": (255, 255, 255),
    "right_pupil": (128, 128, 255),
}
"""BGR dot colour per fine region of `LAPA106.regions` (pairwise >= 127 apart). Dots are drawn
in `LAPA106.regions` order, so the pupils (drawn last) cover the eye centres 74/83."""

# Rotation centre of the head in template units (x, y); z = 0 is the ear plane.
_CENTRE = (0.5, 0.52)


# ----------------------------------------------------------------------------- template


def _spow(v: np.ndarray | float, p: float):
    return np.sign(v) * np.abs(v) ** p


# ----------------------------------------------------------------------------- geometry

def _arc(phis: np.ndarray, rx: float, top: float, height: float, zmax: float) -> np.ndarray:
    """Upper head arc in template units: phi 0 = right side, pi/2 = top, pi = left side."""
    c, s = np.cos(phis), np.sin(phis)
    x = 0.5 + rx * _spow(c, 0.83)
    y = top - height * _spow(s, 0.9)
    z = zmax * np.clip(s, 0, None) ** 0.7
    return np.stack([x, y, z], axis=1)


def _aux_points(hairline: float) -> dict[str, np.ndarray]:
    """Non-landmark 3D points (forehead, hair, ears, neck, clothes, nostrils) in template units."""
    hx = np.linspace(0.10, 0.90, 13)
    hy = hairline + (0.30 - hairline) * ((hx - 0.5) / 0.4) ** 4
    hz = np.array([face_z(x) for x in hx]) * 0.9
    mirror = lambda p: np.array([[1.0 - x, y, z] for x, y, z in p])  # noqa: E731
    nostril = np.array([[0.452, 0.659, 0.41]])
    drop = np.array([[0.20, 1.12, 0.0], [0.05, 1.10, 0.0], [0.03, 0.75, 0.0]])
    return {
        "forehead": _arc(np.linspace(0, math.pi, 17)[1:-1], 0.40, 0.36, 0.34, 0.30),
        "hair_short": _arc(np.linspace(-0.05 * math.pi, 1.05 * math.pi, 21), 0.46, 0.38, 0.40, 0.2),
        "hair_long": np.concatenate([mirror(drop[::-1]),
                                     _arc(np.linspace(-0.02 * math.pi, 1.02 * math.pi, 21), 0.47, 0.38, 0.41, 0.2),
                                     drop]),
        "hairline": np.stack([hx, hy, hz], axis=1),
        "ears": np.array([[0.085, 0.47, 0.0], [0.915, 0.47, 0.0]]),
        "neck": np.array([[0.33, 0.80, 0.1], [0.31, 1.45, 0.0], [0.69, 1.45, 0.0], [0.67, 0.80, 0.1]]),
        "clothes": np.array([[0.30, 1.25, 0.0], [0.5, 1.40, 0.0], [0.70, 1.25, 0.0], [1.45, 1.45, 0.0],
                             [1.6, 3.0, 0.0], [-0.6, 3.0, 0.0], [-0.45, 1.45, 0.0]]),
        "nostrils": np.concatenate([nostril, mirror(nostril)]),
    }


def _vary_shape(P: np.ndarray, rng: np.random.Generator, amount: float) -> tuple[np.ndarray, float]:
    """Expression and proportion changes on the (106, 3) template; returns (points, jaw x-scale)."""
    P = P.copy()
    u = lambda lo, hi: float(rng.uniform(lo, hi)) * amount  # noqa: E731
    jaw = 1.0 + u(-0.08, 0.08)
    eye_open = 1.0 + u(-0.3, 0.3)
    gap = (0.002 if rng.random() < 0.4 else float(rng.uniform(0.01, 0.08)))
    mouth = (gap - 0.022) * amount
    smile = u(-0.01, 0.025)
    brow_up = u(-0.012, 0.02)
    spread = 1.0 + u(-0.03, 0.03)

    P[0:33, 0] = 0.5 + (P[0:33, 0] - 0.5) * jaw
    for eye, centre in ((range(66, 74), 74), (range(75, 83), 83)):
        idx = list(eye)
        P[idx, 1] = P[centre, 1] + (P[idx, 1] - P[centre, 1]) * eye_open
    feat = list(range(33, 51)) + list(range(66, 84)) + [104, 105]
    P[feat, 0] = 0.5 + (P[feat, 0] - 0.5) * spread
    P[33:51, 1] -= brow_up
    P[[101, 102, 103], 1] += mouth
    P[91:96, 1] += 0.9 * mouth
    P[[84, 90, 96, 100], 1] += 0.4 * mouth
    P[12:21, 1] += 0.3 * mouth * np.cos(np.linspace(-1.2, 1.2, 9))
    P[[84, 90], 1] -= smile
    P[[96, 100], 1] -= 0.8 * smile
    P[[85, 89, 95, 91], 1] -= 0.4 * smile
    P[[84, 96], 0] -= 0.5 * smile
    P[[90, 100], 0] += 0.5 * smile
    P[:, :2] += rng.normal(0.0, 0.0025 * amount, size=(106, 2))
    P[104] = P[74]
    P[105] = P[83]
    return P, jaw


def _project(P: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotate (yaw about the vertical axis, pitch, then in-plane roll), orthographic projection.
    Returns template-unit 2D offsets from the head centre."""
    X, Y, Z = P[:, 0] - _CENTRE[0], P[:, 1] - _CENTRE[1], P[:, 2]
    ca, sa = math.cos(yaw), math.sin(yaw)
    X1, Z1 = X * ca + Z * sa, -X * sa + Z * ca
    cp, sp = math.cos(pitch), math.sin(pitch)
    Y2 = Y * cp - Z1 * sp
    cr, sr = math.cos(roll), math.sin(roll)
    return np.stack([X1 * cr - Y2 * sr, X1 * sr + Y2 * cr], axis=1)


# ----------------------------------------------------------------------------- drawing

def _cv(pts: np.ndarray) -> np.ndarray:
    """Continuous pixel coordinates -> cv2 fixed-point pixel-centre coordinates."""
    return np.round((np.asarray(pts, dtype=np.float64) - 0.5) * _ONE).astype(np.int32)


def _col(c) -> tuple:
    return tuple(float(v) for v in np.clip(c, 0, 255))


def _fill(img, pts, color) -> None:
    cv2.fillPoly(img, [_cv(pts)], _col(color), cv2.LINE_AA, _SHIFT)


def _line(img, pts, color, thickness: float, closed: bool = False) -> None:
    cv2.polylines(img, [_cv(pts)], closed, _col(color), max(1, int(round(thickness))), cv2.LINE_AA, _SHIFT)


def _circle(img, centre, radius: float, color) -> None:
    c = _cv(centre)
    cv2.circle(img, (int(c[0]), int(c[1])), max(1, int(round(radius * _ONE))), _col(color), -1,
               cv2.LINE_AA, _SHIFT)


def _ellipse(img, centre, axes, angle_deg: float, color) -> None:
    c = _cv(centre)
    a = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
    cv2.ellipse(img, (int(c[0]), int(c[1])), a, float(angle_deg), 0, 360, _col(color), -1, cv2.LINE_AA, _SHIFT)


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ang = rng.uniform(0, 2 * math.pi)
    # a linear gradient is bilinear, so its 2x2 corner values resized up give the whole image
    t = np.array([[0.0, w * math.cos(ang)], [h * math.sin(ang), w * math.cos(ang) + h * math.sin(ang)]])
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    corners = (c0 + t[..., None] * (c1 - c0)).astype(np.float32)
    img = cv2.resize(corners, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    for _ in range(int(rng.integers(2, 8))):
        kind = int(rng.integers(0, 4))
        color = rng.uniform(0, 255, 3)
        p = rng.uniform(-0.1, 1.1, (3, 2)) * (w, h)
        r = rng.uniform(0.03, 0.25) * min(w, h)
        if kind == 0:
            _circle(img, p[0], r, color)
        elif kind == 1:
            _fill(img, np.array([p[0], (p[1, 0], p[0, 1]), p[1], (p[0, 0], p[1, 1])]), color)
        elif kind == 2:
            _line(img, p[:2], color, rng.uniform(1, 0.03 * min(w, h) + 1))
        else:
            _fill(img, p, color)
    return img


_SKIN_LIGHT = np.array([175.0, 200.0, 235.0])
_SKIN_DARK = np.array([45.0, 70.0, 105.0])
_HAIR = np.array([[20, 20, 25], [30, 50, 80], [90, 160, 200], [150, 150, 150], [30, 60, 140]], float)
_IRIS = np.array([[30, 55, 90], [25, 30, 40], [130, 100, 60], [70, 110, 80], [40, 80, 100]], float)


@dataclass(frozen=True)
class _Palette:
    """One face's colours (BGR floats)."""

    skin: np.ndarray
    hair: np.ndarray
    brow: np.ndarray
    lips: np.ndarray
    sclera: np.ndarray
    iris: np.ndarray
    pupil: np.ndarray
    mouth_in: np.ndarray
    clothes: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "_Palette":
        skin = _SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * rng.random() + rng.uniform(-12, 12, 3)
        hair = _HAIR[int(rng.integers(len(_HAIR)))] * rng.uniform(0.8, 1.2) + rng.uniform(-10, 10, 3)
        lips = skin * np.array([0.72, 0.62, 0.92]) * rng.uniform(0.85, 1.05)
        sclera = rng.uniform(205, 245) + rng.uniform(-8, 8, 3)
        iris = _IRIS[int(rng.integers(len(_IRIS)))] * rng.uniform(0.8, 1.1)
        pupil = np.full(3, rng.uniform(12, 35))
        mouth_in = np.array([35.0, 30.0, 70.0]) * rng.uniform(0.7, 1.2)
        return cls(skin, hair, 0.5 * hair + 0.5 * skin * 0.45, lips, sclera, iris, pupil, mouth_in, rng.uniform(0, 255, 3))


@dataclass(frozen=True)
class _View:
    """How the head is seen: angles (radians; roll in degrees, as OpenCV draws) and size (pixels)."""

    yaw: float
    pitch: float
    roll_deg: float
    s: float

    @property
    def squash(self) -> tuple[float, float]:
        """How a forward-facing disc (the iris) shrinks across and along: an ellipse after yaw/pitch."""
        return abs(math.cos(self.yaw)), abs(math.cos(self.pitch))


def _draw_eye(img: np.ndarray, contour: np.ndarray, centre: np.ndarray, view: _View, pal: _Palette) -> None:
    """Eye white = contour polygon; iris/pupil centred on the eye centre, clipped to the white.

    The iris is a forward-facing disc: after yaw/pitch it is an ellipse with axes `iris_r * squash`,
    turned by the roll."""
    iris_r = 0.028 * view.s
    pupil_r, lid_w = max(1.0, 0.45 * iris_r), 0.008 * view.s
    sq, angle, lid = view.squash, view.roll_deg, pal.skin * 0.3
    h, w = img.shape[:2]
    _fill(img, contour, pal.sclera)
    x0 = max(int(math.floor(contour[:, 0].min())) - 1, 0)
    x1 = min(int(math.ceil(contour[:, 0].max())) + 2, w)
    y0 = max(int(math.floor(contour[:, 1].min())) - 1, 0)
    y1 = min(int(math.ceil(contour[:, 1].max())) + 2, h)
    if x1 > x0 and y1 > y0:
        roi = img[y0:y1, x0:x1]
        off = np.array([x0, y0], dtype=np.float64)
        layer = roi.copy()
        _ellipse(layer, centre - off, (iris_r * sq[0], iris_r * sq[1]), angle, pal.iris)
        _ellipse(layer, centre - off, (max(1.0, pupil_r * sq[0]), max(1.0, pupil_r * sq[1])), angle, pal.pupil)
        if iris_r >= 5:
            _circle(layer, centre - off + (-0.4 * iris_r, -0.4 * iris_r), 0.15 * iris_r, pal.sclera + 10)
        mask = np.zeros(roi.shape[:2], np.uint8)
        cv2.fillPoly(mask, [_cv(contour - off)], 255, cv2.LINE_AA, _SHIFT)
        a = mask[..., None].astype(np.float32) / 255.0
        roi[...] = (roi * (1.0 - a) + layer * a + 0.5).astype(np.uint8)
    _line(img, contour[0:5], lid, lid_w)
    _line(img, np.concatenate([contour[4:8], contour[:1]]), lid * 0.5 + pal.sclera * 0.3, max(1.0, 0.6 * lid_w))


def _head(rng: np.random.Generator, vary: float) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """The 3-D head: the 106 points (template varied by `vary`), the auxiliary outlines (hair, ears,
    neck, ...) narrowed with the jaw, and the hair style (0 none, 1 short, 2 long)."""
    P, jaw = _vary_shape(np.array(template3d()), rng, float(vary))
    hair_style = int(rng.choice(3, p=[0.15, 0.45, 0.40]))
    aux = _aux_points(float(rng.uniform(0.08, 0.20)))
    for k in ("forehead", "hair_short", "hair_long", "hairline", "ears"):
        aux[k][:, 0] = 0.5 + (aux[k][:, 0] - 0.5) * jaw
    return P, aux, hair_style


def _place(rng: np.random.Generator, rel: np.ndarray, w: int, h: int) -> np.ndarray:
    """A random centre keeping every landmark inside the image, except for about 1 in 8 faces
    placed partly outside it."""
    lo, hi = rel[:106].min(axis=0), rel[:106].max(axis=0)
    cut = rng.random() < 0.12
    centre = np.empty(2)
    for d, size in ((0, w), (1, h)):
        a, b = -lo[d] + 1.0, size - hi[d] - 1.0
        if cut:
            ext = 0.25 * (hi[d] - lo[d])
            a, b = a - ext, b + ext
        centre[d] = rng.uniform(a, b) if a < b else (a + b) / 2
    return centre


def _paint(img: np.ndarray, pts: np.ndarray, ax: dict[str, np.ndarray], pal: _Palette, view: _View,
           hair_style: int) -> None:
    """Draw the head back to front: hair, neck, clothes, ears, face, brows, nose, eyes, mouth (in place)."""
    s, skin = view.s, pal.skin
    if hair_style == 2:
        _fill(img, ax["hair_long"], pal.hair)
    _fill(img, ax["neck"], skin * 0.85)
    _fill(img, ax["clothes"], pal.clothes)
    for e in ax["ears"]:
        _ellipse(img, e, (0.035 * s * abs(math.cos(view.yaw)) + 1, 0.085 * s), view.roll_deg, skin * 0.92)
    _fill(img, np.concatenate([pts[0:33], ax["forehead"]]), skin)
    _line(img, pts[0:33], skin * 0.82, 0.012 * s)
    if hair_style > 0:
        _fill(img, np.concatenate([ax["hair_short"], ax["hairline"]]), pal.hair)
    _fill(img, pts[33:42], pal.brow)
    _fill(img, pts[42:51], pal.brow)
    _line(img, pts[51:55], skin * 0.9, 0.02 * s)
    for n in ax["nostrils"]:
        _ellipse(img, n, (0.018 * s, 0.008 * s), view.roll_deg, skin * 0.35)
    _line(img, pts[55:66], skin * 0.65, 0.006 * s)
    for contour, centre in ((pts[66:74], pts[104]), (pts[75:83], pts[105])):
        _draw_eye(img, contour, centre, view, pal)
    _fill(img, pts[84:96], pal.lips)
    _fill(img, pts[96:104], pal.mouth_in)
    _line(img, pts[96:104], pal.lips * 0.6, 0.004 * s, closed=True)


def _photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Sometimes a slight blur, then a gain, an offset and Gaussian noise: a camera's look."""
    h, w = img.shape[:2]
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), float(rng.uniform(0.4, 1.0)))
    f = img.astype(np.float32)
    f *= np.float32(rng.uniform(0.8, 1.2))
    noise = rng.standard_normal((h, w, 1), dtype=np.float32)
    noise *= np.float32(rng.uniform(0, 8))
    noise += np.float32(rng.uniform(-20, 20) + 0.5)
    f += noise
    np.clip(f, 0, 255, out=f)
    return f.astype(np.uint8)


def render_face(rng: np.random.Generator, width: int = 256, height: int = 256, *, max_yaw: float = 30,
                max_roll: float = 30, scale_range=(0.45, 0.85), markers: bool = False, gray: bool = False,
                max_pitch: float = 10, vary: float = 1.0,
                marker_radius: float = MARKER_RADIUS, yaw: float | None = None, pitch: float | None = None,
                roll: float | None = None, scale: float | None = None,
                centre: Sequence[float] | None = None, background: np.ndarray | None = None,
                photometric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Draw one random face. Returns (BGR uint8 (H, W, 3), points (106, 2) float64 continuous pixels).

    `scale_range` is the face size (one template unit, about the ear-to-ear width / 0.8) as a fraction
    of min(width, height). About 1 in 8 faces is placed partly outside the frame; otherwise all
    landmarks are inside. `vary=0` draws the template shape without expression changes.
    Markers are drawn last (after noise and the gray conversion), so their colours are exact.

    `yaw`, `pitch`, `roll` (degrees; yaw > 0 turns the nose to the image's right, pitch > 0 lifts it,
    roll > 0 turns the face clockwise on screen), `scale` (face size in pixels) and `centre` (x, y of
    the head's rotation centre in pixels) replace the random draws when given, so one seed with
    different values gives the same person, colours and background in another pose or place
    (frames of a synthetic video). `background` (BGR, the image's size) is drawn on instead of a
    random one, to put several faces in one picture; `photometric=False` skips the final blur,
    gain and noise (add your own per frame).
    """
    w, h = int(width), int(height)
    if w < 8 or h < 8:
        raise ValueError(f"render_face: image too small ({w}x{h})")
    P, aux, hair_style = _head(rng, vary)
    names = list(aux)
    view = _View(math.radians(rng.uniform(-max_yaw, max_yaw) if yaw is None else yaw),
                 math.radians(rng.uniform(-max_pitch, max_pitch) if pitch is None else pitch),
                 float(rng.uniform(-max_roll, max_roll)) if roll is None else float(roll),
                 float(rng.uniform(*scale_range)) * min(w, h) if scale is None else float(scale))
    rel = _project(np.concatenate([P] + [aux[k] for k in names]), view.yaw, view.pitch,
                   math.radians(view.roll_deg)) * view.s
    at = _place(rng, rel, w, h)
    if centre is not None:
        at = np.asarray(centre, dtype=np.float64).reshape(2)
    allp = rel + at
    pts = allp[:106].copy()
    ends = np.cumsum([106] + [len(aux[k]) for k in names])
    ax = {k: allp[a:b] for k, a, b in zip(names, ends[:-1], ends[1:])}

    pal = _Palette.draw(rng)
    img = _background(rng, w, h)
    if background is not None:
        if background.shape[:2] != (h, w):
            raise ValueError(f"render_face: background is {background.shape[1]}x{background.shape[0]}, not {w}x{h}")
        img = np.ascontiguousarray(background, dtype=np.uint8).copy()
    _paint(img, pts, ax, pal, view, hair_style)
    if photometric:
        img = _photometric(rng, img)
    if gray:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if markers:
        draw_markers(img, pts, marker_radius)
    return np.ascontiguousarray(img), pts


def draw_markers(image: np.ndarray, points: np.ndarray, radius: float = MARKER_RADIUS) -> np.ndarray:
    """Draw every LaPa-106 point as a dot of its region colour, in place (regions in layout order)."""
    h, w = image.shape[:2]
    pts = np.asarray(points, dtype=np.float64)
    for name, idx in LAPA106.regions.items():
        for i in idx:
            x, y = pts[i]
            if -radius - 1 < x < w + radius + 1 and -radius - 1 < y < h + radius + 1:
                _circle(image, pts[i], radius, MARKER_COLORS[name])
    return image


def marker_visible(points: np.ndarray, radius: float = MARKER_RADIUS,
                   size: tuple[int, int] | None = None) -> np.ndarray:
    """(106,) bool: no dot of another region comes near the point's own dot (and, given
    `size` = (width, height), the point is inside the image). 74/83 are always False (under the pupils)."""
    pts = np.asarray(points, dtype=np.float64)
    col = np.array([MARKER_COLORS[r] for r in LAPA106.region_of()])
    d = np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=-1)
    other = (col[:, None, :] != col[None, :, :]).any(-1)
    ok = ~((d < radius + 2.0) & other).any(axis=1)
    if size is not None:
        w, h = size
        ok &= (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    return ok


# ----------------------------------------------------------------------------- datasets

def format_points(points: np.ndarray) -> str:
    """One 'x y' line per point, pixels."""
    return "".join(f"{x:.4f} {y:.4f}\n" for x, y in np.asarray(points, dtype=np.float64))


def generate_dataset(out_dir, n: int, seed: int = 0, size_range=(160, 400), exts: Sequence[str] = (".jpg", ".png"),
                     labels_dir=None, **render_kw) -> list[Path]:
    """Write `n` synthetic faces `synth_00000.<ext>` and labels `<stem>.txt` (106 lines 'x y', pixels).

    Sizes are random in `size_range` (about 30% square); extensions cycle through `exts`; labels go
    next to the images or into `labels_dir`. Image k depends only on (seed, k). Points of faces
    cut by the border may lie outside the image.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    lab_dir = Path(labels_dir) if labels_dir is not None else out_dir
    exts = [e if e.startswith(".") else "." + e for e in exts]
    if not exts:
        raise ValueError("generate_dataset: exts is empty")
    lo, hi = int(size_range[0]), int(size_range[1])
    paths: list[Path] = []
    for k in tqdm(range(int(n)), desc="synth", disable=n < 200, leave=False):
        rng = np.random.default_rng([int(seed), k])
        w = int(rng.integers(lo, hi + 1))
        h = w if rng.random() < 0.3 else int(rng.integers(lo, hi + 1))
        img, pts = render_face(rng, w, h, **render_kw)
        stem = f"synth_{k:05d}"
        path = out_dir / f"{stem}{exts[k % len(exts)]}"
        atomic_write_image(path, img)
        atomic_write_text(lab_dir / f"{stem}.txt", format_points(pts))
        paths.append(path)
    return paths
