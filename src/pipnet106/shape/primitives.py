"""The primitives of each named shape change, built from a face's points in its own frame.

Every change takes a value in [-1, 1] (0 = no change; the sign rule is in `SHAPE_CHANGES`), and
every length is a fraction of the face's scale (or of the part it acts on), so a value does the
same thing on a 300 px and a 3000 px face. `shape_primitives(points, frame, values)` reads the
values as attributes of any object (`retouch.Adjustments`, or the random draws of the shape
augmentation); a missing attribute counts as 0. `eye_asymmetry` in [-1, 1] (augmentation only)
makes the eye changes differ between the eyes: the image-left eye gets 1 - a of them, the right
1 + a (a wink, one eye larger).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .field import Primitive, _falloff
from .frame import (CHIN, CONTOUR, LEFT_BROW, LEFT_BROW_UPPER, LEFT_EYE, LEFT_INNER, LEFT_OUTER, MOUTH_INNER, MOUTH_LEFT, MOUTH_OUTER,
                    MOUTH_RIGHT, NOSE_AXIS, NOSE_LOWER, NOSE_TIP, RIGHT_BROW, RIGHT_BROW_UPPER, RIGHT_EYE, RIGHT_INNER, RIGHT_OUTER,
                    FaceFrame)


@dataclass(frozen=True)
class Sizes:
    """Every amount and radius of the shape changes, in one place. `s` = the face scale
    (`FaceFrame.scale`); amounts are what value 1 does."""

    # face_slim: the contour below the eyes moves toward the face's axis
    slim_pull: float = 0.13          # fraction of each contour point's distance to the axis
    slim_from: float = 0.05          # s below the eye line where the pull starts (nothing at eye level) ...
    slim_full: float = 0.45          # ... and s below it where it is full (below the nose)
    slim_radius: float = 0.40        # s: radius of each contour point's move
    # jaw_width: the jaw corners move outward
    jaw_push: float = 0.13           # fraction of the distance to the axis
    jaw_from: float = 0.40           # s below the eye line: start of the push ...
    jaw_full: float = 0.80           # ... and where it is full
    jaw_radius: float = 0.35         # s
    # chin_length: the chin moves down
    chin_move: float = 0.08          # s
    chin_radii: tuple[float, float] = (0.45, 0.40)   # s, across and along the face
    # eye_size: each eye scaled about its centre; eye_distance: the eyes move apart
    eye_scale: float = 0.30          # relative size change at the eye's centre
    eye_radius: float = 1.15         # eye widths (corner to corner)
    eye_min_width: float = 0.15      # s: the smallest eye width used (a closed or tiny eye)
    eye_move: float = 0.05           # s
    eye_move_radii: tuple[float, float] = (1.4, 1.0)  # eye widths
    # eye_height: each eye opened (scaled along the face's vertical only)
    eye_open: float = 0.35           # relative height change at the eye's centre
    eye_open_radii: tuple[float, float] = (0.9, 1.4)  # eye widths: across, along (wide enough for the lids)
    # nose_width: the nose wings scaled across; nose_length: the tip moves down
    nose_scale: float = 0.22
    nose_min_width: float = 0.15     # s
    nose_scale_radii: tuple[float, float] = (1.2, 0.25)   # nose widths across, s along
    nose_move: float = 0.07          # s
    nose_move_radii: tuple[float, float] = (1.0, 0.30)    # nose widths across, s along
    # lip_fullness: the lips stretched away from the mouth line; mouth_width: the corners move out
    mouth_min_width: float = 0.20    # s
    lip_scale: float = 0.25
    lip_radii: tuple[float, float] = (0.75, 1.5)          # mouth widths across; mouth heights along ...
    lip_min_height: float = 0.25                          # ... at least this many s
    mouth_scale: float = 0.15
    mouth_radii: tuple[float, float] = (0.9, 1.2)
    mouth_min_height: float = 0.22   # s
    # mouth_open: the upper lip moves up and the lower lip down, about the inner mouth's line
    mouth_open: float = 0.06         # s, each lip
    mouth_open_radii: tuple[float, float] = (0.55, 0.6)   # mouth widths across, mouth heights along
    # brow_lift: each brow moves up
    brow_move: float = 0.05          # s
    brow_min_length: float = 0.20    # s
    brow_radii: tuple[float, float] = (0.75, 0.25)        # brow lengths across, s along
    # v_face: the jaw corners move toward the axis (nothing above the mouth), the chin a little down
    vface_pull: float = 0.14         # fraction of each contour point's distance to the axis
    vface_from: float = 0.45         # s below the eye line: start of the pull ...
    vface_full: float = 0.85         # ... and where it is full (the jaw corners)
    vface_radius: float = 0.30       # s
    vface_chin: float = 0.035        # s: how far the chin moves down
    # cheekbone: the contour at cheekbone height moves outward (a band below the eye line)
    cheek_push: float = 0.09         # fraction of the distance to the axis
    cheek_band: tuple[float, float, float, float] = (-0.05, 0.12, 0.35, 0.55)  # s below the eye line: 0, 1, 1, 0
    cheek_radius: float = 0.30       # s
    # forehead: the hairline (a face frame's height above the brows) moves up
    forehead_move: float = 0.07      # s
    forehead_above: float = 0.45     # s above the brows' upper edge: where the hairline is taken to be
    forehead_radii: tuple[float, float] = (0.80, 0.38)    # s across, s along (0 at the brows)
    # eye_tilt: each eye's outer corner moves up (both outward ends: a cat-eye tilt)
    tilt_move: float = 0.035         # s
    tilt_radii: tuple[float, float] = (0.55, 0.45)        # eye widths, across and along


SIZES = Sizes()


def smooth_ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 1 above hi, smoothstep in between (zero slope at both ends: no visible seam)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _at(c: np.ndarray) -> tuple[float, float]:
    return float(c[0]), float(c[1])


def _contour_moves(L: np.ndarray, idx: np.ndarray, moves: np.ndarray, radius: float) -> list[Primitive]:
    """Many overlapping moves along the contour, normalized so the contour itself moves by `moves`."""
    c = L[idx]
    d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1) / radius ** 2
    overlap = float(np.median(_falloff(d2).sum(1)))
    return [Primitive("move", _at(p), (radius, radius), (float(m[0] / overlap), float(m[1] / overlap)))
            for p, m in zip(c, moves) if abs(m[0]) + abs(m[1]) > 1e-9]


@dataclass(frozen=True)
class _Face:
    """One face in its own frame: points L (a along the eye line, b toward the chin), scale s."""

    L: np.ndarray
    s: float
    eye_gain: tuple[float, float] = (1.0, 1.0)
    """Multipliers of the eye changes for the image-left and image-right eye (`eye_asymmetry`)."""

    @property
    def axis(self) -> float:
        return float(self.L[NOSE_AXIS, 0].mean())

    @property
    def eye_line(self) -> float:
        """b of the eye line (the eyes' centres)."""
        return float(self.L[np.r_[LEFT_EYE, RIGHT_EYE], 1].mean())

    def eyes(self):
        """(centre, eye width, side, gain) of the image-left and image-right eye (side -1 / +1)."""
        for (ring, outer, inner, side), gain in zip(((LEFT_EYE, LEFT_OUTER, LEFT_INNER, -1.0),
                                                    (RIGHT_EYE, RIGHT_OUTER, RIGHT_INNER, 1.0)), self.eye_gain):
            ew = max(float(np.hypot(*(self.L[outer] - self.L[inner]))), SIZES.eye_min_width * self.s)
            yield self.L[ring].mean(0), ew, side, gain

    def mouth(self) -> tuple[np.ndarray, float, float]:
        """Centre of the outer lip line, mouth width and height."""
        m = self.L[MOUTH_OUTER]
        mw = max(float(np.hypot(*(self.L[MOUTH_RIGHT] - self.L[MOUTH_LEFT]))), SIZES.mouth_min_width * self.s)
        return m.mean(0), mw, float(np.ptp(m[:, 1]))

    def nose(self) -> tuple[np.ndarray, float]:
        n = self.L[NOSE_LOWER]
        return n, max(float(np.ptp(n[:, 0])), SIZES.nose_min_width * self.s)


def _toward_axis(f: _Face, v: float, idx: np.ndarray, amount: float, lo: float, hi: float, radius: float):
    L, s = f.L, f.s
    m = np.zeros((len(idx), 2))
    m[:, 0] = v * amount * (L[idx, 0] - f.axis) * smooth_ramp(L[idx, 1], lo * s, hi * s)
    return _contour_moves(L, idx, m, radius * s)


def _face_slim(f: _Face, v: float) -> list[Primitive]:
    z = SIZES
    return _toward_axis(f, -v, CONTOUR[2:31], z.slim_pull, z.slim_from, z.slim_full, z.slim_radius)


def _jaw_width(f: _Face, v: float) -> list[Primitive]:
    z = SIZES
    return _toward_axis(f, v, CONTOUR[4:29], z.jaw_push, z.jaw_from, z.jaw_full, z.jaw_radius)


def _chin_length(f: _Face, v: float) -> list[Primitive]:
    ra, rb = SIZES.chin_radii
    return [Primitive("move", _at(f.L[CHIN]), (ra * f.s, rb * f.s), (0.0, v * SIZES.chin_move * f.s))]


def _eye_size(f: _Face, v: float) -> list[Primitive]:
    r = SIZES.eye_radius
    return [Primitive("scale", _at(c), (r * ew, r * ew), (g * v * SIZES.eye_scale,) * 2) for c, ew, _, g in f.eyes()]


def _eye_distance(f: _Face, v: float) -> list[Primitive]:
    ra, rb = SIZES.eye_move_radii
    return [Primitive("move", _at(c), (ra * ew, rb * ew), (side * g * v * SIZES.eye_move * f.s, 0.0))
            for c, ew, side, g in f.eyes()]


def _eye_height(f: _Face, v: float) -> list[Primitive]:
    ra, rb = SIZES.eye_open_radii
    return [Primitive("scale", _at(c), (ra * ew, rb * ew), (0.0, g * v * SIZES.eye_open)) for c, ew, _, g in f.eyes()]


def _nose_width(f: _Face, v: float) -> list[Primitive]:
    nose, nw = f.nose()
    ra, rb = SIZES.nose_scale_radii
    return [Primitive("scale", _at(nose.mean(0)), (ra * nw, rb * f.s), (v * SIZES.nose_scale, 0.0))]


def _nose_length(f: _Face, v: float) -> list[Primitive]:
    nose, nw = f.nose()
    ra, rb = SIZES.nose_move_radii
    c = 0.5 * (f.L[NOSE_TIP] + nose.mean(0))      # between the tip and the wings
    return [Primitive("move", _at(c), (ra * nw, rb * f.s), (0.0, v * SIZES.nose_move * f.s))]


def _lip_fullness(f: _Face, v: float) -> list[Primitive]:
    c, mw, mh = f.mouth()
    ra, rb = SIZES.lip_radii
    return [Primitive("scale", _at(c), (ra * mw, max(rb * mh, SIZES.lip_min_height * f.s)), (0.0, v * SIZES.lip_scale))]


def _mouth_width(f: _Face, v: float) -> list[Primitive]:
    c, mw, mh = f.mouth()
    ra, rb = SIZES.mouth_radii
    return [Primitive("scale", _at(c), (ra * mw, max(rb * mh, SIZES.mouth_min_height * f.s)),
                      (v * SIZES.mouth_scale, 0.0))]


def _mouth_open(f: _Face, v: float) -> list[Primitive]:
    """The lips part (or close, v < 0) about the inner lip line: the upper lip up, the lower down."""
    L = f.L
    _, mw, mh = f.mouth()
    inner = L[MOUTH_INNER]
    line = inner.mean(0)
    upper, lower = L[MOUTH_OUTER][L[MOUTH_OUTER, 1] < line[1]], L[MOUTH_OUTER][L[MOUTH_OUTER, 1] >= line[1]]
    ra, rb = SIZES.mouth_open_radii
    radii = (ra * mw, max(rb * mh, 0.5 * SIZES.mouth_min_height * f.s))
    d = v * SIZES.mouth_open * f.s
    out = []
    for lip, sign in ((upper, -1.0), (lower, 1.0)):
        if len(lip):
            c = np.array([line[0], 0.5 * (lip[:, 1].mean() + line[1])])
            out.append(Primitive("move", _at(c), radii, (0.0, sign * d)))
    return out


def _brow_lift(f: _Face, v: float) -> list[Primitive]:
    ra, rb = SIZES.brow_radii
    out = []
    for brow in (LEFT_BROW, RIGHT_BROW):
        bl = max(float(np.ptp(f.L[brow, 0])), SIZES.brow_min_length * f.s)
        out.append(Primitive("move", _at(f.L[brow].mean(0)), (ra * bl, rb * f.s), (0.0, -v * SIZES.brow_move * f.s)))
    return out


def _v_face(f: _Face, v: float) -> list[Primitive]:
    """The jaw corners in (toward the axis, below the mouth's height) and the chin a little down: a V."""
    z = SIZES
    prims = _toward_axis(f, -v, CONTOUR[4:29], z.vface_pull, z.vface_from, z.vface_full, z.vface_radius)
    ra, rb = SIZES.chin_radii
    return prims + [Primitive("move", _at(f.L[CHIN]), (ra * f.s, rb * f.s), (0.0, v * z.vface_chin * f.s))]


def _cheekbone(f: _Face, v: float) -> list[Primitive]:
    """The contour at cheekbone height (a band from the eye line down to the nose) moves outward."""
    z, L, idx = SIZES, f.L, CONTOUR
    b = L[idx, 1] - f.eye_line
    lo0, lo1, hi1, hi0 = (x * f.s for x in z.cheek_band)
    band = smooth_ramp(b, lo0, lo1) * (1.0 - smooth_ramp(b, hi1, hi0))
    m = np.zeros((len(idx), 2))
    m[:, 0] = v * z.cheek_push * (L[idx, 0] - f.axis) * band
    return _contour_moves(L, idx, m, z.cheek_radius * f.s)


def _forehead(f: _Face, v: float) -> list[Primitive]:
    """The hairline, `forehead_above` face scales above the brows (the face frame over the forehead), moves up."""
    z = SIZES
    top = float(f.L[np.r_[LEFT_BROW_UPPER, RIGHT_BROW_UPPER], 1].mean())
    c = (f.axis, top - z.forehead_above * f.s)
    ra, rb = z.forehead_radii
    return [Primitive("move", c, (ra * f.s, rb * f.s), (0.0, -v * z.forehead_move * f.s))]


def _eye_tilt(f: _Face, v: float) -> list[Primitive]:
    """Each eye's outer corner moves up (v > 0) or down, the inner corner stays: the eye line tilts."""
    ra, rb = SIZES.tilt_radii
    out = []
    for (_, ew, _, g), outer in zip(f.eyes(), (LEFT_OUTER, RIGHT_OUTER)):
        out.append(Primitive("move", _at(f.L[outer]), (ra * ew, rb * ew), (0.0, -g * v * SIZES.tilt_move * f.s)))
    return out


SHAPE_CHANGES: dict[str, tuple[Callable[[_Face, float], list[Primitive]], str]] = {
    "face_slim": (_face_slim, "cheeks and jaw move toward the face's axis (slimmer); negative = rounder"),
    "jaw_width": (_jaw_width, "jaw corners move outward (wider jaw); negative = narrower, V-shaped"),
    "chin_length": (_chin_length, "chin moves down, away from the mouth (longer chin); negative = shorter"),
    "eye_size": (_eye_size, "eyes scaled up about their centres (bigger); negative = smaller"),
    "eye_distance": (_eye_distance, "eyes move apart along the eye line; negative = closer together"),
    "eye_height": (_eye_height, "eyes opened along the face's vertical (taller); negative = narrower"),
    "nose_width": (_nose_width, "nose wings move outward (wider nose); negative = narrower"),
    "nose_length": (_nose_length, "nose tip moves down, away from the eyes (longer nose); negative = shorter"),
    "lip_fullness": (_lip_fullness, "lips stretched across the mouth line (fuller lips); negative = thinner"),
    "mouth_width": (_mouth_width, "mouth corners move outward (wider mouth); negative = narrower"),
    "mouth_open": (_mouth_open, "lips part about the inner lip line (mouth more open); negative = closer"),
    "brow_lift": (_brow_lift, "brows move up, away from the eyes; negative = down"),
    "v_face": (_v_face, "jaw corners move in and the chin a little down (a V-shaped face); negative = squarer"),
    "cheekbone": (_cheekbone, "the contour at cheekbone height moves outward (wider cheekbones); negative = "
                              "narrower"),
    "forehead": (_forehead, "the hairline above the brows moves up (taller forehead); negative = lower hairline"),
    "eye_tilt": (_eye_tilt, "outer eye corners move up (a lifted, cat-eye tilt); negative = down"),
}
"""name -> (builder, what a positive value does). Order = the order primitives are added."""


def shape_primitives(points: np.ndarray, frame: FaceFrame, values) -> list[Primitive]:
    """The primitives of every non-zero shape value of one face, each value faded by `frame.weight`."""
    a = float(getattr(values, "eye_asymmetry", 0.0))
    face = _Face(frame.local(points), frame.scale, (1.0 - a, 1.0 + a))
    prims: list[Primitive] = []
    for name, (build, _) in SHAPE_CHANGES.items():
        v = float(getattr(values, name, 0.0)) * frame.weight
        if v:
            prims += build(face, v)
    return prims
